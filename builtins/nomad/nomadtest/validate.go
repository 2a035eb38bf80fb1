package nomadtest

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/nomad/api"
)

// The validation below follows nomad/structs (Job.Validate, TaskGroup.Validate,
// Task.Validate, ...) of Nomad 1.6: same checks, same wording, same nesting of
// go-multierror lists, so that an error reads as Nomad's does.

// admissionErrors runs the server's admission validators in Nomad's order: Vault,
// node pool, then the job's own validation. Their errors are flattened into one list,
// as admissionValidators does.
func admissionErrors(j *api.Job, vaultEnabled, identityFlow bool) error {
	var errs error
	if len(jobVaultBlocks(j)) > 0 && !vaultEnabled {
		errs = multierror.Append(errs, errors.New("Vault not enabled but used in the job"))
	}
	if pool := str(j.NodePool); pool != "default" && pool != "all" {
		errs = multierror.Append(errs, fmt.Errorf("job %q is in nonexistent node pool %q", str(j.ID), pool))
	}
	if err := validateJob(j, identityFlow); err != nil {
		errs = multierror.Append(errs, err)
	}
	if len(j.Payload) != 0 {
		errs = multierror.Append(errs, errors.New("job can't be submitted with a payload, only dispatched"))
	}
	if p := intv(j.Priority); p < 1 || p > 100 {
		errs = multierror.Append(errs, fmt.Errorf("job priority must be between [%d, %d]", 1, 100))
	}
	return errs
}

func validateJob(j *api.Job, identityFlow bool) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }

	if str(j.Region) == "" {
		add(errors.New("Missing job region"))
	}
	id := str(j.ID)
	switch {
	case id == "":
		add(errors.New("Missing job ID"))
	case strings.Contains(id, " "):
		add(errors.New("Job ID contains a space"))
	case strings.Contains(id, "\000"):
		add(errors.New("Job ID contains a null character"))
	}
	if name := str(j.Name); name == "" {
		add(errors.New("Missing job name"))
	} else if strings.Contains(name, "\000") {
		add(errors.New("Job Name contains a null character"))
	}
	if str(j.Namespace) == "" {
		add(errors.New("Job must be in a namespace"))
	}
	jobType := str(j.Type)
	switch jobType {
	case "_core", api.JobTypeService, api.JobTypeBatch, api.JobTypeSystem, api.JobTypeSysbatch:
	case "":
		add(errors.New("Missing job type"))
	default:
		add(fmt.Errorf("Invalid job type: %q", jobType))
	}
	if len(j.Datacenters) == 0 {
		add(errors.New("Missing job datacenters"))
	} else {
		for _, dc := range j.Datacenters {
			if dc == "" {
				add(errors.New("Job datacenter must be non-empty string"))
			}
		}
	}
	if len(j.TaskGroups) == 0 {
		add(errors.New("Missing job task groups"))
	}
	for idx, c := range j.Constraints {
		if err := validateConstraint(c); err != nil {
			add(fmt.Errorf("Constraint %d validation failed: %s", idx+1, err))
		}
	}
	if jobType == api.JobTypeSystem {
		if j.Affinities != nil {
			add(errors.New("System jobs may not have an affinity block"))
		}
		if j.Spreads != nil {
			add(errors.New("System jobs may not have a spread block"))
		}
	}

	groups := map[string]int{}
	for idx, tg := range j.TaskGroups {
		name := str(tg.Name)
		if name == "" {
			add(fmt.Errorf("Job task group %d missing name", idx+1))
		} else if existing, ok := groups[name]; ok {
			add(fmt.Errorf("Job task group %d redefines '%s' from group %d", idx+1, name, existing+1))
		} else {
			groups[name] = idx
		}
		if tg.ShutdownDelay != nil && *tg.ShutdownDelay < 0 {
			add(errors.New("ShutdownDelay must be a positive value"))
		}
		if jobType == api.JobTypeSystem && intv(tg.Count) > 1 {
			add(fmt.Errorf("Job task group %s has count %d. Count cannot exceed 1 with system scheduler", name, intv(tg.Count)))
		}
	}
	for _, tg := range j.TaskGroups {
		if err := validateGroup(j, tg, identityFlow); err != nil {
			add(fmt.Errorf("Task group %s validation failed: %v", str(tg.Name), err))
		}
	}

	if j.Periodic != nil && boolv(j.Periodic.Enabled) {
		if jobType != api.JobTypeBatch && jobType != api.JobTypeSysbatch {
			add(fmt.Errorf("Periodic can only be used with %q or %q scheduler", api.JobTypeBatch, api.JobTypeSysbatch))
		}
	}
	if j.ParameterizedJob != nil && !j.Dispatched {
		if jobType != api.JobTypeBatch && jobType != api.JobTypeSysbatch {
			add(fmt.Errorf("Parameterized job can only be used with %q or %q scheduler", api.JobTypeBatch, api.JobTypeSysbatch))
		}
	}
	return mErr.ErrorOrNil()
}

func validateGroup(j *api.Job, tg *api.TaskGroup, identityFlow bool) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	jobType := str(j.Type)
	name := str(tg.Name)

	if name == "" {
		add(errors.New("Missing task group name"))
	} else if strings.Contains(name, "\000") {
		add(errors.New("Task group name contains null character"))
	}
	if intv(tg.Count) < 0 {
		add(errors.New("Task group count can't be negative"))
	}
	if len(tg.Tasks) == 0 {
		add(errors.New("Missing tasks for task group"))
	}
	for idx, c := range tg.Constraints {
		if err := validateConstraint(c); err != nil {
			add(fmt.Errorf("Constraint %d validation failed: %s", idx+1, err))
		}
	}
	if jobType == api.JobTypeSystem && tg.Affinities != nil {
		add(errors.New("System jobs may not have an affinity block"))
	}
	if tg.RestartPolicy != nil {
		if err := validateRestartPolicy(tg.RestartPolicy); err != nil {
			add(err)
		}
	} else {
		add(fmt.Errorf("Task Group %v should have a restart policy", name))
	}
	if jobType == api.JobTypeSystem && tg.Spreads != nil {
		add(errors.New("System jobs may not have a spread block"))
	}
	if tg.EphemeralDisk != nil {
		if size := intv(tg.EphemeralDisk.SizeMB); size <= 0 {
			add(fmt.Errorf("minimum DiskMB value is 10; got %d", size))
		}
	} else {
		add(fmt.Errorf("Task Group %v should have an ephemeral disk object", name))
	}
	if u := tg.Update; u != nil {
		switch jobType {
		case api.JobTypeService, api.JobTypeSystem:
		default:
			add(fmt.Errorf("Job type %q does not allow update block", jobType))
		}
		if err := validateUpdate(u); err != nil {
			add(err)
		}
	}
	if jobType != api.JobTypeService && tg.Migrate != nil {
		add(fmt.Errorf("Job type %q does not allow migrate block", jobType))
	}

	tasks := map[string]int{}
	leaders := 0
	for idx, t := range tg.Tasks {
		if t.Name == "" {
			add(fmt.Errorf("Task %d missing name", idx+1))
		} else if existing, ok := tasks[t.Name]; ok {
			add(fmt.Errorf("Task %d redefines '%s' from task %d", idx+1, t.Name, existing+1))
		} else {
			tasks[t.Name] = idx
		}
		if t.Leader {
			leaders++
		}
	}
	if leaders > 1 {
		add(errors.New("Only one task may be marked as leader"))
	}

	if err := validateGroupNetworks(tg); err != nil {
		add(fmt.Errorf("Task group network validation failed: %v", err))
	}
	if err := validateGroupServices(tg); err != nil {
		add(fmt.Errorf("Task group service validation failed: %v", err))
	}

	for _, t := range tg.Tasks {
		for i, m := range t.VolumeMounts {
			vol := str(m.Volume)
			if vol == "" {
				add(fmt.Errorf("Task %s has a volume mount (%d) referencing an empty volume", t.Name, i))
			} else if _, ok := tg.Volumes[vol]; !ok {
				add(fmt.Errorf("Task %s has a volume mount (%d) referencing undefined volume %s", t.Name, i, vol))
			}
		}
		if err := validateTask(jobType, tg, t, identityFlow); err != nil {
			add(fmt.Errorf("Task %s validation failed: %v", t.Name, err))
		}
	}
	return mErr.ErrorOrNil()
}

func validateRestartPolicy(r *api.RestartPolicy) error {
	mode, attempts := str(r.Mode), intv(r.Attempts)
	interval, delay := dur(r.Interval), dur(r.Delay)
	switch mode {
	case "delay", "fail":
	default:
		return fmt.Errorf("Unsupported restart mode: %q", mode)
	}
	if attempts == 0 && mode != "fail" {
		return fmt.Errorf("Restart policy %q with %d attempts is ambiguous", mode, attempts)
	}
	if interval < 5*time.Second {
		return fmt.Errorf("Interval can not be less than %v (got %v)", 5*time.Second, interval)
	}
	if time.Duration(attempts)*delay > interval {
		return fmt.Errorf("Nomad can't restart the TaskGroup %v times in an interval of %v with a delay of %v", attempts, interval, delay)
	}
	return nil
}

func validateUpdate(u *api.UpdateStrategy) error {
	var mErr multierror.Error
	add := func(err error) { _ = multierror.Append(&mErr, err) }
	switch hc := str(u.HealthCheck); hc {
	case "checks", "task_states", "manual":
	default:
		add(fmt.Errorf("Invalid health check given: %q", hc))
	}
	if n := intv(u.MaxParallel); n < 0 {
		add(fmt.Errorf("Max parallel can not be less than zero: %d < 0", n))
	}
	if n := intv(u.Canary); n < 0 {
		add(fmt.Errorf("Canary count can not be less than zero: %d < 0", n))
	}
	if intv(u.Canary) == 0 && boolv(u.AutoPromote) {
		add(errors.New("Auto Promote requires a Canary count greater than zero"))
	}
	minHealthy, healthy, progress := dur(u.MinHealthyTime), dur(u.HealthyDeadline), dur(u.ProgressDeadline)
	if minHealthy < 0 {
		add(fmt.Errorf("Minimum healthy time may not be less than zero: %v", minHealthy))
	}
	if healthy <= 0 {
		add(fmt.Errorf("Healthy deadline must be greater than zero: %v", healthy))
	}
	if progress < 0 {
		add(fmt.Errorf("Progress deadline must be zero or greater: %v", progress))
	}
	if minHealthy >= healthy {
		add(fmt.Errorf("Minimum healthy time must be less than healthy deadline: %v > %v", minHealthy, healthy))
	}
	if progress != 0 && healthy >= progress {
		add(fmt.Errorf("Healthy deadline must be less than progress deadline: %v > %v", healthy, progress))
	}
	if stagger := dur(u.Stagger); stagger <= 0 {
		add(fmt.Errorf("Stagger must be greater than zero: %v", stagger))
	}
	return mErr.ErrorOrNil()
}

func validateGroupNetworks(tg *api.TaskGroup) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	if len(tg.Networks) > 1 {
		add(errors.New("Only one network resource is permitted"))
	}
	labels := map[string]string{}
	static := map[int]string{}
	checkPort := func(port api.Port, owner string) {
		if other, ok := labels[port.Label]; ok {
			add(fmt.Errorf("Port label %s already in use by %s", port.Label, other))
		} else {
			labels[port.Label] = owner
		}
		if port.Value != 0 {
			if other, ok := static[port.Value]; ok {
				add(fmt.Errorf("Static port %d already reserved by %s", port.Value, other))
			} else if port.Value > math.MaxUint16 || port.Value < 0 {
				add(fmt.Errorf("Port %s (%d) cannot be greater than %d", port.Label, port.Value, math.MaxUint16))
			} else {
				static[port.Value] = owner + ":" + port.Label
			}
		}
		if port.To < -1 {
			add(fmt.Errorf("Port %q cannot be mapped to negative value %d", port.Label, port.To))
		} else if port.To > math.MaxUint16 {
			add(fmt.Errorf("Port %q cannot be mapped to a port (%d) greater than %d", port.Label, port.To, math.MaxUint16))
		}
	}
	for _, n := range tg.Networks {
		for _, p := range append(append([]api.Port(nil), n.ReservedPorts...), n.DynamicPorts...) {
			checkPort(p, "taskgroup network")
		}
	}
	for _, t := range tg.Tasks {
		if t.Resources == nil {
			continue
		}
		for _, n := range t.Resources.Networks {
			for _, p := range append(append([]api.Port(nil), n.ReservedPorts...), n.DynamicPorts...) {
				checkPort(p, t.Name)
			}
		}
	}
	return mErr.ErrorOrNil()
}

// validateGroupServices checks group-level services: their own validity, uniqueness,
// a single provider, and that their ports exist in the group network.
func validateGroupServices(tg *api.TaskGroup) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	tasks := map[string]bool{}
	type unique struct{ task, name, port string }
	seen := map[unique]bool{}
	var dups []string
	providers := map[string]bool{}
	note := func(u unique) {
		if seen[u] {
			s := u.task + "->" + u.name
			if u.port != "" {
				s += ":" + u.port
			}
			dups = append(dups, s)
		}
		seen[u] = true
	}
	for _, t := range tg.Tasks {
		tasks[t.Name] = true
		for _, svc := range t.Services {
			if svc.TaskName != "" && svc.TaskName != t.Name {
				add(fmt.Errorf("Service %s is invalid: may only specify task the service belongs to, got %q", svc.Name, svc.TaskName))
			}
			for _, c := range svc.Checks {
				if c.TaskName != "" && c.TaskName != t.Name {
					add(fmt.Errorf("Check %s is invalid: only task group service checks can be assigned tasks", c.Name))
				}
			}
			note(unique{t.Name, svc.Name, svc.PortLabel})
			providers[svc.Provider] = true
		}
	}
	ports := groupPortLabels(tg)
	servicePorts := map[string]map[string]bool{}
	for i, svc := range tg.Services {
		note(unique{"group", svc.Name, svc.PortLabel})
		providers[svc.Provider] = true
		if err := validateService(svc); err != nil {
			add(fmt.Errorf("Service[%d] %s validation failed: %s", i, svc.Name, err))
			continue
		}
		if svc.AddressMode == "driver" {
			add(fmt.Errorf("service %q cannot use address_mode=\"driver\", only services defined in a \"task\" block can use this mode", svc.Name))
		}
		for _, c := range svc.Checks {
			if c.TaskName != "" && !tasks[c.TaskName] {
				add(fmt.Errorf("Check %s invalid: refers to non-existent task %s", c.Name, c.TaskName))
			}
		}
		addServicePorts(servicePorts, svc)
	}
	for _, err := range missingPortErrors(servicePorts, ports) {
		add(err)
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		add(fmt.Errorf("Services are not unique: %s", strings.Join(dups, ", ")))
	}
	if len(providers) > 1 {
		add(errors.New("Multiple service providers used: task group services must use the same provider"))
	}
	return mErr.ErrorOrNil()
}

// groupPortLabels are the labels of the group network (Nomad looks at the first).
func groupPortLabels(tg *api.TaskGroup) map[string]bool {
	labels := map[string]bool{}
	if len(tg.Networks) > 0 {
		for _, p := range tg.Networks[0].ReservedPorts {
			labels[p.Label] = true
		}
		for _, p := range tg.Networks[0].DynamicPorts {
			labels[p.Label] = true
		}
	}
	return labels
}

// addServicePorts records the port labels a service and its checks refer to.
func addServicePorts(servicePorts map[string]map[string]bool, svc *api.Service) {
	addPort := func(label string) {
		if servicePorts[label] == nil {
			servicePorts[label] = map[string]bool{}
		}
		servicePorts[label][svc.Name] = true
	}
	if svc.PortLabel != "" {
		if _, err := strconv.Atoi(svc.PortLabel); err != nil || svc.AddressMode != "driver" {
			addPort(svc.PortLabel)
		}
	}
	for _, c := range svc.Checks {
		if !checkRequiresPort(c) {
			continue
		}
		port := c.PortLabel
		if port == "" {
			port = svc.PortLabel
		}
		if _, err := strconv.Atoi(port); port == "" || err == nil {
			continue // reported by the check's own validation
		}
		addPort(port)
	}
}

func missingPortErrors(servicePorts map[string]map[string]bool, labels map[string]bool) []error {
	keys := make([]string, 0, len(servicePorts))
	for k := range servicePorts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, port := range keys {
		if labels[port] {
			continue
		}
		names := make([]string, 0, len(servicePorts[port]))
		for n := range servicePorts[port] {
			names = append(names, n)
		}
		sort.Strings(names)
		errs = append(errs, fmt.Errorf("port label %q referenced by services %v does not exist", port, strings.Join(names, ", ")))
	}
	return errs
}

func checkRequiresPort(c api.ServiceCheck) bool {
	switch strings.ToLower(c.Type) {
	case "grpc", "http", "tcp":
		return true
	}
	return false
}

var serviceNameRE = regexp.MustCompile(`^(?i:[a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])$`)
var envInterpolation = regexp.MustCompile(`\$\{[^}]*\}`)

func validateService(svc *api.Service) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	if stripped := envInterpolation.ReplaceAllString(svc.Name, "ENV-VAR"); !serviceNameRE.MatchString(stripped) {
		add(fmt.Errorf("Service name must be valid per RFC 1123 and can contain only alphanumeric characters or dashes and must be no longer than 63 characters: %q", svc.Name))
	}
	switch svc.AddressMode {
	case "", "auto", "host", "driver", "alloc":
	default:
		add(fmt.Errorf("Service address_mode must be %q, %q, or %q; not %q", "auto", "host", "driver", svc.AddressMode))
	}
	switch svc.OnUpdate {
	case "", api.OnUpdateRequireHealthy, api.OnUpdateIgnoreWarn, api.OnUpdateIgnore:
	default:
		add(fmt.Errorf("Service on_update must be %q, %q, or %q; not %q", api.OnUpdateRequireHealthy, api.OnUpdateIgnoreWarn, api.OnUpdateIgnore, svc.OnUpdate))
	}
	switch svc.Provider {
	case "", "consul", "nomad":
	default:
		add(fmt.Errorf("Service provider must be %q, or %q; not %q", "consul", "nomad", svc.Provider))
	}
	for _, c := range svc.Checks {
		if svc.PortLabel == "" && c.PortLabel == "" && checkRequiresPort(c) {
			add(fmt.Errorf("Check %s invalid: check requires a port but neither check nor service %+q have a port", c.Name, svc.Name))
			continue
		}
		if err := validateCheck(c); err != nil {
			add(fmt.Errorf("Check %s invalid: %v", c.Name, err))
		}
	}
	return mErr.ErrorOrNil()
}

func validateCheck(c api.ServiceCheck) error {
	switch strings.ToLower(c.Type) {
	case "grpc", "tcp":
	case "http":
		if c.Path == "" {
			return errors.New("http type must have http path")
		}
	case "script":
		if c.Command == "" {
			return errors.New("script type must have a valid script path")
		}
	default:
		return fmt.Errorf(`invalid type (%+q), must be one of "http", "tcp", or "script" type`, c.Type)
	}
	if c.Interval == 0 {
		return fmt.Errorf("missing required value interval. Interval cannot be less than %v", time.Second)
	} else if c.Interval < time.Second {
		return fmt.Errorf("interval (%v) cannot be lower than %v", c.Interval, time.Second)
	}
	if c.Timeout == 0 {
		return fmt.Errorf("missing required value timeout. Timeout cannot be less than %v", time.Second)
	} else if c.Timeout < time.Second {
		return fmt.Errorf("timeout (%v) is lower than required minimum timeout %v", c.Timeout, time.Second)
	}
	switch c.InitialStatus {
	case "", "passing", "warning", "critical":
	default:
		return fmt.Errorf(`invalid initial check state (%s), must be one of "passing", "warning", "critical" or empty`, c.InitialStatus)
	}
	return nil
}

// identityFlow: the agent is a Nomad 1.10 one (workload identities; vault policies
// are optional, identity blocks are validated).
func validateTask(jobType string, tg *api.TaskGroup, t *api.Task, identityFlow bool) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	if t.Name == "" {
		add(errors.New("Missing task name"))
	}
	if strings.ContainsAny(t.Name, `/\`) {
		add(errors.New("Task name cannot include slashes"))
	} else if strings.Contains(t.Name, "\000") {
		add(errors.New("Task name cannot include null characters"))
	}
	if t.Driver == "" {
		add(errors.New("Missing task driver"))
	}
	if dur(t.KillTimeout) < 0 {
		add(errors.New("KillTimeout must be a positive value"))
	}
	if t.ShutdownDelay < 0 {
		add(errors.New("ShutdownDelay must be a positive value"))
	}
	if t.Resources == nil {
		add(errors.New("Missing task resources"))
	} else if err := validateResources(t.Resources); err != nil {
		add(err)
	}
	if t.LogConfig == nil {
		add(errors.New("Missing Log Config"))
	} else if tg.EphemeralDisk != nil {
		logMB := intv(t.LogConfig.MaxFiles) * intv(t.LogConfig.MaxFileSizeMB)
		if disk := intv(tg.EphemeralDisk.SizeMB); !boolv(t.LogConfig.Disabled) && logMB >= disk {
			add(fmt.Errorf("log storage (%d MB) must be less than requested disk capacity (%d MB)", logMB, disk))
		}
	}
	for idx, c := range t.Constraints {
		if err := validateConstraint(c); err != nil {
			add(fmt.Errorf("Constraint %d validation failed: %s", idx+1, err))
		}
		switch c.Operand {
		case opDistinctHosts, opDistinctProperty:
			add(fmt.Errorf("Constraint %d has disallowed Operand at task level: %s", idx+1, c.Operand))
		}
	}
	if jobType == api.JobTypeSystem && t.Affinities != nil {
		add(errors.New("System jobs may not have an affinity block"))
	}
	if err := validateTaskServices(t, tg); err != nil {
		add(err)
	}
	for idx, a := range t.Artifacts {
		if a.GetterSource == nil || *a.GetterSource == "" {
			add(fmt.Errorf("Artifact %d validation failed: %v", idx+1, errors.New("source must be specified")))
		}
	}
	if t.Vault != nil {
		if err := validateVault(t.Vault, identityFlow); err != nil {
			add(fmt.Errorf("Vault validation failed: %v", err))
		}
	}
	if identityFlow {
		if err := validateIdentities(t); err != nil {
			add(err)
		}
	}
	destinations := map[string]int{}
	for idx, tmpl := range t.Templates {
		if err := validateTemplate(tmpl); err != nil {
			add(fmt.Errorf("Template %d validation failed: %s", idx+1, err))
		}
		dest := str(tmpl.DestPath)
		if other, ok := destinations[dest]; ok {
			add(fmt.Errorf("Template %d has same destination as %d", idx+1, other))
		} else {
			destinations[dest] = idx + 1
		}
	}
	if t.Lifecycle != nil {
		switch t.Lifecycle.Hook {
		case api.TaskLifecycleHookPrestart, api.TaskLifecycleHookPoststart, api.TaskLifecycleHookPoststop:
		case "":
			add(errors.New("lifecycle validation failed: no lifecycle hook provided"))
		default:
			add(fmt.Errorf("lifecycle validation failed: invalid hook: %v", t.Lifecycle.Hook))
		}
	}
	return mErr.ErrorOrNil()
}

func validateResources(r *api.Resources) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	cpu, cores, mem := intv(r.CPU), intv(r.Cores), intv(r.MemoryMB)
	if cores > 0 && cpu > 0 {
		add(errors.New("Task can only ask for 'cpu' or 'cores' resource, not both."))
	}
	var minErr multierror.Error
	if cpu < 1 && cores == 0 {
		minErr.Errors = append(minErr.Errors, fmt.Errorf("minimum CPU value is %d; got %d", 1, cpu))
	}
	if mem < 10 {
		minErr.Errors = append(minErr.Errors, fmt.Errorf("minimum MemoryMB value is %d; got %d", 10, mem))
	}
	if err := minErr.ErrorOrNil(); err != nil {
		add(err)
	}
	if intv(r.DiskMB) > 0 {
		add(errors.New("Task can't ask for disk resources, they have to be specified at the task group level."))
	}
	if maxMB := intv(r.MemoryMaxMB); maxMB != 0 && maxMB < mem {
		add(fmt.Errorf("MemoryMaxMB value (%d) should be larger than MemoryMB value (%d)", maxMB, mem))
	}
	return mErr.ErrorOrNil()
}

func validateTaskServices(t *api.Task, tg *api.TaskGroup) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	servicePorts := map[string]map[string]bool{}
	known := map[string]bool{}
	for i, svc := range t.Services {
		if err := validateService(svc); err != nil {
			add(fmt.Errorf("service[%d] %+q validation failed: %s", i, svc.Name, err))
		}
		if svc.AddressMode == "alloc" {
			add(fmt.Errorf("service %q cannot use address_mode=\"alloc\", only services defined in a \"group\" block can use this mode", svc.Name))
		}
		if known[svc.Name+svc.PortLabel] {
			add(fmt.Errorf("service %q is duplicate", svc.Name))
		}
		known[svc.Name+svc.PortLabel] = true
		if svc.Connect != nil {
			add(fmt.Errorf("service %q cannot have \"connect\" block, only services defined in a \"group\" block can", svc.Name))
		}
		checks := map[string]bool{}
		for _, c := range svc.Checks {
			if checks[c.Name] {
				add(fmt.Errorf("check %q is duplicate", c.Name))
			}
			checks[c.Name] = true
			if !checkRequiresPort(c) {
				continue
			}
			port := c.PortLabel
			if port == "" {
				port = svc.PortLabel
			}
			if port == "" {
				add(fmt.Errorf("check %q is missing a port", c.Name))
				continue
			}
			if n, err := strconv.Atoi(port); err == nil {
				if c.AddressMode == "driver" {
					if n <= 0 {
						add(fmt.Errorf("check %q has invalid numeric port %d", c.Name, n))
					}
				} else {
					add(fmt.Errorf(`check %q cannot use a numeric port %d without setting address_mode="driver"`, c.Name, n))
				}
			}
		}
		addServicePorts(servicePorts, svc)
	}
	labels := groupPortLabels(tg)
	if t.Resources != nil {
		for _, n := range t.Resources.Networks {
			for _, p := range n.ReservedPorts {
				labels[p.Label] = true
			}
			for _, p := range n.DynamicPorts {
				labels[p.Label] = true
			}
		}
	}
	for _, err := range missingPortErrors(servicePorts, labels) {
		add(err)
	}
	return mErr.ErrorOrNil()
}

// validateVault is Vault.Validate; from Nomad 1.7 the policies come from the Vault role
// the task logs in with, so an empty list is no longer an error.
func validateVault(v *api.Vault, identityFlow bool) error {
	var mErr multierror.Error
	if len(v.Policies) == 0 && !identityFlow {
		_ = multierror.Append(&mErr, errors.New("Policy list cannot be empty"))
	}
	for _, p := range v.Policies {
		if p == "root" {
			_ = multierror.Append(&mErr, errors.New("Can not specify \"root\" policy"))
		}
	}
	switch mode := str(v.ChangeMode); mode {
	case "signal":
		if str(v.ChangeSignal) == "" {
			_ = multierror.Append(&mErr, fmt.Errorf("Signal must be specified when using change mode %q", "signal"))
		}
	case "noop", "restart":
	default:
		_ = multierror.Append(&mErr, fmt.Errorf("Unknown change mode %q", mode))
	}
	return mErr.ErrorOrNil()
}

func validateTemplate(t *api.Template) error {
	var mErr multierror.Error
	add := func(err error) { _ = multierror.Append(&mErr, err) }
	if str(t.SourcePath) == "" && str(t.EmbeddedTmpl) == "" {
		add(errors.New("Must specify a source path or have an embedded template"))
	}
	dest := str(t.DestPath)
	if dest == "" {
		add(errors.New("Must specify a destination for the template"))
	}
	if pathEscapesTaskDir(dest) {
		add(errors.New("destination escapes allocation directory"))
	}
	switch str(t.ChangeMode) {
	case "noop", "restart":
	case "signal":
		if str(t.ChangeSignal) == "" {
			add(errors.New("Must specify signal value when change mode is signal"))
		}
		if boolv(t.Envvars) {
			add(errors.New("cannot use signals with env var templates"))
		}
	case "script":
		if t.ChangeScript == nil || str(t.ChangeScript.Command) == "" {
			add(errors.New("must specify change script configuration value when change mode is script"))
		}
	default:
		add(errors.New("Invalid change mode. Must be one of the following: noop, signal, script, restart"))
	}
	if t.Splay != nil && *t.Splay < 0 {
		add(errors.New("Must specify positive splay value"))
	}
	if perms := str(t.Perms); perms != "" {
		if _, err := strconv.ParseUint(perms, 8, 12); err != nil {
			add(fmt.Errorf("Failed to parse %q as octal: %v", perms, err))
		}
	}
	return mErr.ErrorOrNil()
}

// pathEscapesTaskDir is PathEscapesAllocDir("task", path): whether a path relative to
// the task directory leaves the allocation directory.
func pathEscapesTaskDir(p string) bool {
	root := "/alloc-dir"
	joined := filepath.Join(root, "task", p)
	rel, err := filepath.Rel(root, joined)
	return err != nil || strings.HasPrefix(rel, "..")
}

func validateConstraint(c *api.Constraint) error {
	var mErr multierror.Error
	add := func(err error) { mErr.Errors = append(mErr.Errors, err) }
	if c.Operand == "" {
		add(errors.New("Missing constraint operand"))
	}
	requireL := true
	switch c.Operand {
	case opDistinctHosts:
		requireL = false
	case opSetContains, opSetContainsAll, opSetContainsAny:
		if c.RTarget == "" {
			add(errors.New("Set contains constraint requires an RTarget"))
		}
	case opRegex:
		if _, err := regexp.Compile(c.RTarget); err != nil {
			add(fmt.Errorf("Regular expression failed to compile: %v", err))
		}
	case opVersion:
		if !validVersionConstraint(c.RTarget) {
			add(fmt.Errorf("Version constraint is invalid: Malformed constraint: %s", c.RTarget))
		}
	case opSemver:
		if !validVersionConstraint(c.RTarget) {
			add(fmt.Errorf("Semver constraint is invalid: improper constraint: %s", c.RTarget))
		}
	case opDistinctProperty:
		if c.RTarget != "" {
			n, err := strconv.ParseUint(c.RTarget, 10, 64)
			if err != nil {
				add(fmt.Errorf("Failed to convert RTarget %q to uint64: %v", c.RTarget, err))
			} else if n < 1 {
				add(fmt.Errorf("Distinct Property must have an allowed count of 1 or greater: %d < 1", n))
			}
		}
	case opIsSet, opIsNotSet:
		if c.RTarget != "" {
			add(fmt.Errorf("Operator %q does not support an RTarget", c.Operand))
		}
	case "=", "==", "is", "!=", "not", "<", "<=", ">", ">=":
		if c.RTarget == "" {
			add(fmt.Errorf("Operator %q requires an RTarget", c.Operand))
		}
	default:
		add(fmt.Errorf("Unknown constraint type %q", c.Operand))
	}
	if requireL && c.LTarget == "" {
		add(errors.New("No LTarget provided but is required by constraint"))
	}
	return mErr.ErrorOrNil()
}

func validVersionConstraint(s string) bool {
	if strings.TrimSpace(s) == "" {
		return false
	}
	for _, clause := range strings.Split(s, ",") {
		clause = strings.TrimSpace(clause)
		for _, op := range []string{">=", "<=", "!=", "~>", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(clause, op); ok {
				clause = strings.TrimSpace(rest)
				break
			}
		}
		if _, ok := parseVersion(clause); !ok {
			return false
		}
	}
	return true
}
