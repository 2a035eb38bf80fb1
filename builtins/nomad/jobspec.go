package nomad

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"
)

// A job spec is built from Starlark values, one builder per HCL jobspec block:
//
//	nomad.job("web", datacenters = ["dc1"], groups = [
//	    nomad.group("demo", network = nomad.network(ports = {"http": None}), tasks = [
//	        nomad.task("server", driver = "docker", config = {"image": "x", "ports": ["http"]}),
//	    ]),
//	])
//
// Each builder validates its fields by their HCL names (snake_case) and returns an
// immutable value wrapping the api struct Nomad's client sends. Smaller blocks that have
// no builder (restart, update, lifecycle) are dicts, validated the same way.

var (
	jobFields       = []string{"id", "name", "type", "namespace", "region", "datacenters", "node_pool", "priority", "all_at_once", "groups", "meta", "update", "vault"}
	groupFields     = []string{"name", "count", "tasks", "network", "services", "restart", "update", "meta", "shutdown_delay", "vault"}
	taskFields      = []string{"name", "driver", "config", "env", "user", "vault", "identities", "templates", "services", "resources", "meta", "restart", "kill_timeout", "kill_signal", "leader", "lifecycle"}
	networkFields   = []string{"mode", "hostname", "ports"}
	portFields      = []string{"static", "to", "host_network"}
	serviceFields   = []string{"name", "port", "tags", "checks", "provider", "address_mode", "task", "meta"}
	checkFields     = []string{"type", "name", "interval", "timeout", "path", "port", "method", "protocol", "command", "args", "initial_status", "address_mode"}
	vaultFields     = []string{"policies", "role", "cluster", "namespace", "env", "disable_file", "change_mode", "change_signal", "allow_token_expiration"}
	identityFields  = []string{"name", "aud", "ttl", "env", "file", "filepath", "change_mode", "change_signal", "service_name", "extra_claims"}
	templateFields  = []string{"data", "source", "destination", "change_mode", "change_signal", "perms", "env", "left_delimiter", "right_delimiter", "splay", "error_on_missing_key", "uid", "gid"}
	resourcesFields = []string{"cpu", "memory", "memory_max", "cores"}
	restartFields   = []string{"attempts", "interval", "delay", "mode", "render_templates"}
	updateFields    = []string{"max_parallel", "health_check", "min_healthy_time", "healthy_deadline", "progress_deadline", "auto_revert", "auto_promote", "canary", "stagger"}
	lifecycleFields = []string{"hook", "sidecar"}
)

func (m *module) jobBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, []string{"id"}, jobFields, newTaint())
	if err != nil {
		return nil, err
	}
	id, err := f.requiredStr("id")
	if err != nil {
		return nil, err
	}
	job := &api.Job{ID: &id}
	for name, dst := range map[string]**string{"name": &job.Name, "namespace": &job.Namespace, "region": &job.Region, "node_pool": &job.NodePool} {
		if err := setStr(f, name, dst); err != nil {
			return nil, err
		}
	}
	typ := "service"
	if s, ok, err := f.str("type"); err != nil {
		return nil, err
	} else if ok {
		typ = s
	}
	if err := oneOf(f, "type", typ, "service", "batch", "system", "sysbatch"); err != nil {
		return nil, err
	}
	job.Type = &typ
	if job.Datacenters, _, err = f.strings("datacenters"); err != nil {
		return nil, err
	}
	if err := setInt(f, "priority", &job.Priority); err != nil {
		return nil, err
	}
	if err := setBool(f, "all_at_once", &job.AllAtOnce); err != nil {
		return nil, err
	}
	if job.Meta, _, err = f.strMap("meta"); err != nil {
		return nil, err
	}
	if job.Update, err = updateBlock(f, "update"); err != nil {
		return nil, err
	}
	groups, err := list[api.TaskGroup](f, "groups", "nomad.group")
	if err != nil {
		return nil, err
	}
	jobVault, err := one[api.Vault](f, "vault", "nomad.vault")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[*g.v.Name] {
			return nil, f.errf("groups", "two groups are named %q", *g.v.Name)
		}
		seen[*g.v.Name] = true
		tg := g.v
		if jobVault != nil {
			tg = inheritVault(tg, jobVault.v)
		}
		job.TaskGroups = append(job.TaskGroups, tg)
	}
	return &spec[api.Job]{kind: "nomad.job", label: id, v: job, taint: f.taint}, nil
}

func (m *module) groupBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, []string{"name"}, groupFields, newTaint())
	if err != nil {
		return nil, err
	}
	name, err := f.requiredStr("name")
	if err != nil {
		return nil, err
	}
	count := 1
	if c, ok, err := f.integer("count"); err != nil {
		return nil, err
	} else if ok {
		count = c
	}
	if count < 0 {
		return nil, f.errf("count", "must not be negative")
	}
	g := &api.TaskGroup{Name: &name, Count: &count}
	tasks, err := list[api.Task](f, "tasks", "nomad.task")
	if err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, f.errf("tasks", "a group needs at least one nomad.task")
	}
	seen := map[string]bool{}
	for _, t := range tasks {
		if seen[t.v.Name] {
			return nil, f.errf("tasks", "two tasks are named %q", t.v.Name)
		}
		seen[t.v.Name] = true
		g.Tasks = append(g.Tasks, t.v)
	}
	if n, err := one[api.NetworkResource](f, "network", "nomad.network"); err != nil {
		return nil, err
	} else if n != nil {
		g.Networks = []*api.NetworkResource{n.v}
	}
	services, err := list[api.Service](f, "services", "nomad.service")
	if err != nil {
		return nil, err
	}
	for _, s := range services {
		g.Services = append(g.Services, s.v)
	}
	if g.RestartPolicy, err = restartBlock(f, "restart"); err != nil {
		return nil, err
	}
	if g.Update, err = updateBlock(f, "update"); err != nil {
		return nil, err
	}
	if g.Meta, _, err = f.strMap("meta"); err != nil {
		return nil, err
	}
	if err := setDuration(f, "shutdown_delay", &g.ShutdownDelay); err != nil {
		return nil, err
	}
	if v, err := one[api.Vault](f, "vault", "nomad.vault"); err != nil {
		return nil, err
	} else if v != nil {
		g = inheritVault(g, v.v)
	}
	return &spec[api.TaskGroup]{kind: "nomad.group", label: name, v: g, taint: f.taint}, nil
}

func (m *module) taskBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, []string{"name"}, taskFields, newTaint())
	if err != nil {
		return nil, err
	}
	name, err := f.requiredStr("name")
	if err != nil {
		return nil, err
	}
	driver, err := f.requiredStr("driver")
	if err != nil {
		return nil, err
	}
	t := &api.Task{Name: name, Driver: driver}
	if t.Config, _, err = f.anyMap("config"); err != nil {
		return nil, err
	}
	if t.Env, _, err = f.strMap("env"); err != nil {
		return nil, err
	}
	if t.User, _, err = f.str("user"); err != nil {
		return nil, err
	}
	if t.Meta, _, err = f.strMap("meta"); err != nil {
		return nil, err
	}
	if v, err := one[api.Vault](f, "vault", "nomad.vault"); err != nil {
		return nil, err
	} else if v != nil {
		t.Vault = v.v
	}
	identities, err := list[api.WorkloadIdentity](f, "identities", "nomad.identity")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, id := range identities {
		if names[id.v.Name] {
			return nil, f.errf("identities", "two identities are named %q", id.v.Name)
		}
		names[id.v.Name] = true
		// As Nomad's HCL parser does: every identity block in Identities; the server
		// treats the unnamed one as the task's default identity.
		t.Identities = append(t.Identities, id.v)
	}
	templates, err := list[api.Template](f, "templates", "nomad.template")
	if err != nil {
		return nil, err
	}
	dests := map[string]bool{}
	for _, tm := range templates {
		if dests[*tm.v.DestPath] {
			return nil, f.errf("templates", "two templates write %q", *tm.v.DestPath)
		}
		dests[*tm.v.DestPath] = true
		t.Templates = append(t.Templates, tm.v)
	}
	services, err := list[api.Service](f, "services", "nomad.service")
	if err != nil {
		return nil, err
	}
	for _, s := range services {
		t.Services = append(t.Services, s.v)
	}
	if r, err := one[api.Resources](f, "resources", "nomad.resources"); err != nil {
		return nil, err
	} else if r != nil {
		t.Resources = r.v
	}
	if t.RestartPolicy, err = restartBlock(f, "restart"); err != nil {
		return nil, err
	}
	if err := setDuration(f, "kill_timeout", &t.KillTimeout); err != nil {
		return nil, err
	}
	if t.KillSignal, _, err = f.str("kill_signal"); err != nil {
		return nil, err
	}
	if t.Leader, _, err = f.boolean("leader"); err != nil {
		return nil, err
	}
	if f.has("lifecycle") {
		lf, err := dictFields(f.where+" lifecycle", f.vals["lifecycle"], lifecycleFields, f.taint)
		if err != nil {
			return nil, err
		}
		t.Lifecycle = &api.TaskLifecycle{}
		if t.Lifecycle.Hook, err = lf.requiredStr("hook"); err != nil {
			return nil, err
		}
		if err := oneOf(lf, "hook", t.Lifecycle.Hook, "prestart", "poststart", "poststop"); err != nil {
			return nil, err
		}
		if t.Lifecycle.Sidecar, _, err = lf.boolean("sidecar"); err != nil {
			return nil, err
		}
	}
	return &spec[api.Task]{kind: "nomad.task", label: name, v: t, taint: f.taint}, nil
}

// networkBuiltin: ports = {"db": 5432} (static), {"db": {"static": 5432, "to": 5432}},
// {"http": None} (dynamic) or {"http": {"to": 8080}} (dynamic, mapped into the task).
func (m *module) networkBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, nil, networkFields, newTaint())
	if err != nil {
		return nil, err
	}
	n := &api.NetworkResource{}
	if n.Mode, _, err = f.str("mode"); err != nil {
		return nil, err
	}
	if n.Hostname, _, err = f.str("hostname"); err != nil {
		return nil, err
	}
	if f.has("ports") {
		d, ok := f.vals["ports"].(*starlark.Dict)
		if !ok {
			return nil, f.errf("ports", "want a dict of port label to a number, a dict or None, not %s", f.vals["ports"].Type())
		}
		labels := map[string]starlark.Value{}
		for _, it := range d.Items() {
			k, ok := it[0].(starlark.String)
			if !ok || k == "" {
				return nil, f.errf("ports", "port label %s is not a non-empty string", it[0])
			}
			labels[string(k)] = it[1]
		}
		for _, label := range slices.Sorted(maps.Keys(labels)) {
			p, static, err := portSpec(f, label, labels[label])
			if err != nil {
				return nil, err
			}
			if static {
				n.ReservedPorts = append(n.ReservedPorts, p)
			} else {
				n.DynamicPorts = append(n.DynamicPorts, p)
			}
		}
	}
	return &spec[api.NetworkResource]{kind: "nomad.network", v: n, taint: f.taint}, nil
}

func portSpec(f *fields, label string, v starlark.Value) (api.Port, bool, error) {
	p := api.Port{Label: label}
	switch v := v.(type) {
	case starlark.NoneType:
		return p, false, nil
	case starlark.Int:
		i, ok := v.Int64()
		if !ok || i <= 0 || i > 65535 {
			return p, false, f.errf("ports", "port %q: %s is not a port number", label, v)
		}
		p.Value = int(i)
		return p, true, nil
	case *starlark.Dict:
		pf, err := dictFields(fmt.Sprintf("%s port %q", f.where, label), v, portFields, f.taint)
		if err != nil {
			return p, false, err
		}
		static, isStatic, err := pf.integer("static")
		if err != nil {
			return p, false, err
		}
		p.Value = static
		if p.To, _, err = pf.integer("to"); err != nil {
			return p, false, err
		}
		if p.HostNetwork, _, err = pf.str("host_network"); err != nil {
			return p, false, err
		}
		return p, isStatic, nil
	}
	return p, false, f.errf("ports", "port %q: want a number, a dict or None, not %s", label, v.Type())
}

func (m *module) serviceBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, []string{"name"}, serviceFields, newTaint())
	if err != nil {
		return nil, err
	}
	s := &api.Service{}
	if s.Name, err = f.requiredStr("name"); err != nil {
		return nil, err
	}
	// port is a label of the group network ("db"), or a number (a literal port).
	if i, isInt := f.vals["port"].(starlark.Int); isInt {
		s.PortLabel = i.String()
	} else if s.PortLabel, _, err = f.str("port"); err != nil {
		return nil, err
	}
	if s.Tags, _, err = f.strings("tags"); err != nil {
		return nil, err
	}
	if s.Provider, _, err = f.str("provider"); err != nil {
		return nil, err
	}
	if s.AddressMode, _, err = f.str("address_mode"); err != nil {
		return nil, err
	}
	if s.TaskName, _, err = f.str("task"); err != nil {
		return nil, err
	}
	if s.Meta, _, err = f.strMap("meta"); err != nil {
		return nil, err
	}
	checks, err := list[api.ServiceCheck](f, "checks", "nomad.check")
	if err != nil {
		return nil, err
	}
	for _, c := range checks {
		s.Checks = append(s.Checks, *c.v)
	}
	return &spec[api.Service]{kind: "nomad.service", label: s.Name, v: s, taint: f.taint}, nil
}

func (m *module) checkBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, []string{"type"}, checkFields, newTaint())
	if err != nil {
		return nil, err
	}
	c := &api.ServiceCheck{Type: "tcp", Interval: 10e9, Timeout: 2e9}
	if s, ok, err := f.str("type"); err != nil {
		return nil, err
	} else if ok {
		c.Type = s
	}
	if err := oneOf(f, "type", c.Type, "tcp", "http", "script", "grpc"); err != nil {
		return nil, err
	}
	for name, dst := range map[string]*string{"name": &c.Name, "path": &c.Path, "port": &c.PortLabel, "method": &c.Method,
		"protocol": &c.Protocol, "command": &c.Command, "initial_status": &c.InitialStatus, "address_mode": &c.AddressMode} {
		if *dst, _, err = f.str(name); err != nil {
			return nil, err
		}
	}
	if c.Args, _, err = f.strings("args"); err != nil {
		return nil, err
	}
	if d, ok, err := f.duration("interval"); err != nil {
		return nil, err
	} else if ok {
		c.Interval = d
	}
	if d, ok, err := f.duration("timeout"); err != nil {
		return nil, err
	} else if ok {
		c.Timeout = d
	}
	if c.Type == "http" && c.Path == "" {
		return nil, f.errf("path", "an http check needs a path")
	}
	if c.Type == "script" && c.Command == "" {
		return nil, f.errf("command", "a script check needs a command")
	}
	return &spec[api.ServiceCheck]{kind: "nomad.check", label: c.Type, v: c, taint: f.taint}, nil
}

func (m *module) vaultBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, nil, vaultFields, newTaint())
	if err != nil {
		return nil, err
	}
	v := &api.Vault{}
	var given bool
	if v.Policies, given, err = f.strings("policies"); err != nil {
		return nil, err
	}
	// Without policies, the block is the workload-identity kind (Nomad 1.7+): the task
	// logs in with the role (or the agent's create_from_role, or the auth method's
	// default_role). An explicit empty list is a mistake in either flow.
	if given && len(v.Policies) == 0 {
		return nil, f.errf("policies", "a vault block needs at least one policy (Nomad 1.6 derives task tokens from them); with workload identity, leave policies out and give a role")
	}
	if v.Role, _, err = f.str("role"); err != nil {
		return nil, err
	}
	if v.Cluster, _, err = f.str("cluster"); err != nil {
		return nil, err
	}
	if err := setBool(f, "allow_token_expiration", &v.AllowTokenExpiration); err != nil {
		return nil, err
	}
	if err := setStr(f, "namespace", &v.Namespace); err != nil {
		return nil, err
	}
	if err := setBool(f, "env", &v.Env); err != nil {
		return nil, err
	}
	if err := setBool(f, "disable_file", &v.DisableFile); err != nil {
		return nil, err
	}
	if err := setStr(f, "change_mode", &v.ChangeMode); err != nil {
		return nil, err
	}
	if v.ChangeMode != nil {
		if err := oneOf(f, "change_mode", *v.ChangeMode, "noop", "restart", "signal"); err != nil {
			return nil, err
		}
	}
	if err := setStr(f, "change_signal", &v.ChangeSignal); err != nil {
		return nil, err
	}
	return &spec[api.Vault]{kind: "nomad.vault", v: v, taint: f.taint}, nil
}

// inheritVault gives a job's or group's vault block to every task of g that has none, as
// Nomad's jobspec parser does. The group is copied: a group value may be reused.
func inheritVault(g *api.TaskGroup, v *api.Vault) *api.TaskGroup {
	cp := *g
	cp.Tasks = make([]*api.Task, len(g.Tasks))
	for i, t := range g.Tasks {
		if t.Vault == nil {
			tc := *t
			vc := *v
			tc.Vault = &vc
			t = &tc
		}
		cp.Tasks[i] = t
	}
	return &cp
}

// identityBuiltin is nomad.identity(name=None, aud=[...], ttl=, env=, file=, filepath=,
// change_mode=, change_signal=, service_name=, extra_claims=): a task's workload
// identity block (Nomad 1.7+). Unnamed, it is the task's default identity; a Vault
// identity is named vault_<cluster> ("vault_default").
func (m *module) identityBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, []string{"name"}, identityFields, newTaint())
	if err != nil {
		return nil, err
	}
	id := &api.WorkloadIdentity{}
	for name, dst := range map[string]*string{"name": &id.Name, "filepath": &id.Filepath, "change_mode": &id.ChangeMode,
		"change_signal": &id.ChangeSignal, "service_name": &id.ServiceName} {
		if *dst, _, err = f.str(name); err != nil {
			return nil, err
		}
	}
	if id.Audience, _, err = f.strings("aud"); err != nil {
		return nil, err
	}
	if id.ExtraClaims, _, err = f.strings("extra_claims"); err != nil {
		return nil, err
	}
	if id.Env, _, err = f.boolean("env"); err != nil {
		return nil, err
	}
	if id.File, _, err = f.boolean("file"); err != nil {
		return nil, err
	}
	if d, ok, err := f.duration("ttl"); err != nil {
		return nil, err
	} else if ok {
		id.TTL = d
	}
	if id.ChangeMode != "" {
		if err := oneOf(f, "change_mode", id.ChangeMode, "noop", "restart", "signal"); err != nil {
			return nil, err
		}
	}
	if id.ChangeMode == "signal" && id.ChangeSignal == "" {
		return nil, f.errf("change_signal", "change_mode = \"signal\" needs a change_signal")
	}
	label := id.Name
	if label == "" {
		label = "default"
	}
	return &spec[api.WorkloadIdentity]{kind: "nomad.identity", label: label, v: id, taint: f.taint}, nil
}

func (m *module) templateBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, nil, templateFields, newTaint())
	if err != nil {
		return nil, err
	}
	t := &api.Template{}
	dest, err := f.requiredStr("destination")
	if err != nil {
		return nil, err
	}
	t.DestPath = &dest
	for name, dst := range map[string]**string{"data": &t.EmbeddedTmpl, "source": &t.SourcePath, "change_mode": &t.ChangeMode,
		"change_signal": &t.ChangeSignal, "perms": &t.Perms, "left_delimiter": &t.LeftDelim, "right_delimiter": &t.RightDelim} {
		if err := setStr(f, name, dst); err != nil {
			return nil, err
		}
	}
	if t.EmbeddedTmpl == nil && t.SourcePath == nil {
		return nil, fmt.Errorf("%s: give the template's data (or a source path)", f.where)
	}
	if t.ChangeMode != nil {
		if err := oneOf(f, "change_mode", *t.ChangeMode, "noop", "restart", "signal", "script"); err != nil {
			return nil, err
		}
	}
	if err := setBool(f, "env", &t.Envvars); err != nil {
		return nil, err
	}
	if err := setBool(f, "error_on_missing_key", &t.ErrMissingKey); err != nil {
		return nil, err
	}
	if err := setDuration(f, "splay", &t.Splay); err != nil {
		return nil, err
	}
	if err := setInt(f, "uid", &t.Uid); err != nil {
		return nil, err
	}
	if err := setInt(f, "gid", &t.Gid); err != nil {
		return nil, err
	}
	return &spec[api.Template]{kind: "nomad.template", label: dest, v: t, taint: f.taint}, nil
}

func (m *module) resourcesBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f, err := parseFields(fn.Name(), args, kwargs, nil, resourcesFields, newTaint())
	if err != nil {
		return nil, err
	}
	r := &api.Resources{}
	for name, dst := range map[string]**int{"cpu": &r.CPU, "memory": &r.MemoryMB, "memory_max": &r.MemoryMaxMB, "cores": &r.Cores} {
		if err := setInt(f, name, dst); err != nil {
			return nil, err
		}
	}
	return &spec[api.Resources]{kind: "nomad.resources", v: r, taint: f.taint}, nil
}

func restartBlock(parent *fields, name string) (*api.RestartPolicy, error) {
	if !parent.has(name) {
		return nil, nil
	}
	f, err := dictFields(parent.where+" "+name, parent.vals[name], restartFields, parent.taint)
	if err != nil {
		return nil, err
	}
	r := &api.RestartPolicy{}
	if err := setInt(f, "attempts", &r.Attempts); err != nil {
		return nil, err
	}
	if err := setDuration(f, "interval", &r.Interval); err != nil {
		return nil, err
	}
	if err := setDuration(f, "delay", &r.Delay); err != nil {
		return nil, err
	}
	if err := setStr(f, "mode", &r.Mode); err != nil {
		return nil, err
	}
	if r.Mode != nil {
		if err := oneOf(f, "mode", *r.Mode, "delay", "fail"); err != nil {
			return nil, err
		}
	}
	if err := setBool(f, "render_templates", &r.RenderTemplates); err != nil {
		return nil, err
	}
	return r, nil
}

func updateBlock(parent *fields, name string) (*api.UpdateStrategy, error) {
	if !parent.has(name) {
		return nil, nil
	}
	f, err := dictFields(parent.where+" "+name, parent.vals[name], updateFields, parent.taint)
	if err != nil {
		return nil, err
	}
	u := &api.UpdateStrategy{}
	for n, dst := range map[string]**int{"max_parallel": &u.MaxParallel, "canary": &u.Canary} {
		if err := setInt(f, n, dst); err != nil {
			return nil, err
		}
	}
	for n, dst := range map[string]**time.Duration{"min_healthy_time": &u.MinHealthyTime, "healthy_deadline": &u.HealthyDeadline,
		"progress_deadline": &u.ProgressDeadline, "stagger": &u.Stagger} {
		if err := setDuration(f, n, dst); err != nil {
			return nil, err
		}
	}
	if err := setStr(f, "health_check", &u.HealthCheck); err != nil {
		return nil, err
	}
	if u.HealthCheck != nil {
		if err := oneOf(f, "health_check", *u.HealthCheck, "checks", "task_states", "manual"); err != nil {
			return nil, err
		}
	}
	if err := setBool(f, "auto_revert", &u.AutoRevert); err != nil {
		return nil, err
	}
	if err := setBool(f, "auto_promote", &u.AutoPromote); err != nil {
		return nil, err
	}
	return u, nil
}

// The set* helpers fill an api pointer field only when the script set the field, so an
// unset field stays nil and Nomad applies its own default, exactly as with a jobspec.

func setStr(f *fields, name string, dst **string) error {
	s, ok, err := f.str(name)
	if ok {
		*dst = &s
	}
	return err
}

func setInt(f *fields, name string, dst **int) error {
	i, ok, err := f.integer(name)
	if ok {
		*dst = &i
	}
	return err
}

func setBool(f *fields, name string, dst **bool) error {
	b, ok, err := f.boolean(name)
	if ok {
		*dst = &b
	}
	return err
}

func setDuration(f *fields, name string, dst **time.Duration) error {
	d, ok, err := f.duration(name)
	if ok {
		*dst = &d
	}
	return err
}

func oneOf(f *fields, name, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	msg := fmt.Sprintf("%q is not one of %q", value, allowed)
	if near := nearest(value, allowed); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return f.errf(name, "%s", msg)
}
