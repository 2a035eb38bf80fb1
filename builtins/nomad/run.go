package nomad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// nomad.run(job, wait="healthy", timeout="5m") registers a job and waits for it.
//
// Plan, with Nomad reachable: Nomad's own job-plan API (diff=true) decides. A diff of
// type "None" is Unchanged and nothing is written; otherwise the record carries Nomad's
// field diff, its allocation annotations ("nomad plan: 1 create") and, for a new job,
// the job as HCL-like text. Offline (or Nomad unreachable in a plan, with a warning) the
// job is shown as a create whose results are known after apply.
//
// Apply: the same plan fixes the job's modify index, and the register enforces it, so a
// job that someone changed between our plan and our register is refused ("job changed
// since plan") instead of silently overwritten. Then it waits for the new version's
// allocations: wait="healthy" (the deployment succeeds, or every allocation is healthy),
// "running", or None. A failure lists the failing allocations' task events.
//
// Before any of this, in plan and apply, the templates of tasks with a vault block are
// checked against the tasks' policies (preflight.go). A check that cannot be made fails
// the run, unless check_templates = "warn" (the default is "fail").
//
// Returns struct(id, version, modify_index, allocations=[...]).
func (m *module) runBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var jobV starlark.Value
	var waitV starlark.Value = starlark.String("healthy")
	var timeoutV starlark.Value = starlark.String("5m")
	checks := checkFail
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "job", &jobV, "wait?", &waitV, "timeout?", &timeoutV, "check_templates?", &checks); err != nil {
		return nil, err
	}
	if checks != checkFail && checks != checkWarn {
		return nil, fmt.Errorf("%s: check_templates: %q is not %q or %q", fn.Name(), checks, checkFail, checkWarn)
	}
	js, ok := jobV.(*spec[api.Job])
	if !ok {
		return nil, fmt.Errorf("%s: job: want a nomad.job value, not %s", fn.Name(), jobV.Type())
	}
	w := waitSpec{}
	switch v := waitV.(type) {
	case starlark.NoneType:
	case starlark.String:
		w.mode = string(v)
		if w.mode != "healthy" && w.mode != "running" {
			return nil, fmt.Errorf("%s: wait: %q is not \"healthy\", \"running\" or None", fn.Name(), w.mode)
		}
	default:
		return nil, fmt.Errorf("%s: wait: want \"healthy\", \"running\" or None, not %s", fn.Name(), waitV.Type())
	}
	var timeout runtime.DurationArg
	if err := runtime.UnpackArg(fn.Name(), "timeout", timeoutV, &timeout); err != nil {
		return nil, err
	}
	w.timeout = timeout.D()
	job := js.v
	if len(job.TaskGroups) == 0 {
		return nil, fmt.Errorf("%s: job %q has no groups", fn.Name(), *job.ID)
	}
	id, ns, region := *job.ID, deref(job.Namespace), deref(job.Region)
	addr := fmt.Sprintf("nomad job %q", id)

	// Checked here with nvrun's own evaluation, and confirmed by Vault right before a
	// register (register), so an unchanged job costs Vault no token mint.
	notes, err := m.preflightTemplates(m.run.Context(), thread, job, false, checks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}

	unchanged := false
	v, err := m.converge(thread, runtime.Resource{
		Server:  m.server,
		Address: addr,
		// A pending agent config change is read through: Nomad's plan decides whether
		// it explains a refusal (readJob).
		Unblocked: true,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			return m.readJob(ctx, js)
		},
		Diff: func(live runtime.Live) runtime.Change {
			ch := m.jobDiff(thread, js, live, notes)
			unchanged = ch.Action == runtime.Unchanged
			return ch
		},
		Write: func(ctx context.Context, live runtime.Live) (starlark.Value, error) {
			jl, _ := live.Value.(*jobLive)
			if jl == nil || jl.plan == nil {
				return nil, errors.New("not planned with Nomad")
			}
			return m.register(ctx, thread, js, jl.plan.JobModifyIndex, w, checks)
		},
		Delete: func(ctx context.Context) error { return m.deregister(ctx, id, ns, region, true) },
		// A destroy asks only whether the job is registered: Nomad's plan of it (Read)
		// fails once the agent config's vault block that the job needs is gone.
		Exists: func(ctx context.Context) (bool, error) { return m.jobExists(ctx, id, ns, region) },
	})
	if err != nil || !unchanged || w.mode == "" {
		return v, err
	}
	// Registered as asked is not done: an earlier run may have been interrupted (or its
	// register answer cut off) before the version became healthy.
	settled, err := m.run.Settle(func(ctx context.Context) (starlark.Value, error) {
		return m.settle(ctx, thread, job, w)
	})
	if err != nil {
		return nil, err
	}
	if settled == nil {
		return v, nil
	}
	return settled, nil
}

// jobLive is what nomad.run reads: Nomad's plan of the job, or why Nomad cannot plan it
// yet (and whether the job exists).
type jobLive struct {
	plan    *api.JobPlanResponse // nil: not planned with Nomad, for why
	why     string
	exists  bool
	current starlark.Value // the result, for a job already as asked
}

// readJob asks Nomad's job-plan API (diff=true) about the job. A job holding values
// known only after apply cannot be sent to it yet, and neither can one Nomad refuses
// only because an agent config change planned earlier (the vault block that enables
// Vault) is not applied: Nomad judges the job by the config it runs with ("Vault not
// enabled but used in the job"), and apply will have both. Only such a refusal is
// softened: the same job without its vault blocks must plan cleanly.
func (m *module) readJob(ctx context.Context, js *spec[api.Job]) (any, runtime.Fingerprint, error) {
	job := js.v
	id, ns, region := *job.ID, deref(job.Namespace), deref(job.Region)
	c, err := m.api(ctx)
	if err != nil {
		return nil, "", err
	}
	if len(js.taint.unknowns) > 0 {
		return m.unplanned(ctx, c, job, fmt.Sprintf("not planned with Nomad: the job has values known only after apply (%s)", strings.Join(js.taint.unknowns, ", ")))
	}
	plan, _, err := c.Jobs().Plan(job, true, writeOptions(ctx, ns, region))
	if pending := m.server.Blocked(); err != nil && pending != "" && !isTransport(err) && m.plansWithoutVault(ctx, c, job) {
		return m.unplanned(ctx, c, job, fmt.Sprintf("not planned with Nomad until %s is applied; Nomad said: %s",
			strings.ReplaceAll(string(pending), "; ", ", "), oneLine(nomadText(err))))
	}
	if err != nil {
		return nil, "", nomadError("plan", err)
	}
	jl := &jobLive{plan: plan, exists: plan.JobModifyIndex != 0}
	if plan.Diff != nil && plan.Diff.Type == "None" {
		if jl.current, err = m.currentResult(ctx, c, id, ns, region); err != nil {
			return nil, "", err
		}
	}
	if !jl.exists {
		return jl, runtime.Absent, nil
	}
	return jl, runtime.IndexFingerprint(plan.JobModifyIndex), nil
}

// unplanned is the read of a job Nomad cannot plan yet: whether it exists, and why.
func (m *module) unplanned(ctx context.Context, c *api.Client, job *api.Job, why string) (any, runtime.Fingerprint, error) {
	info, _, err := c.Jobs().Info(*job.ID, queryOptions(ctx, deref(job.Namespace), deref(job.Region)))
	switch {
	case isNotFound(err):
		return &jobLive{why: why}, runtime.Absent, nil
	case err != nil:
		return nil, "", nomadError("read job", err)
	}
	return &jobLive{why: why, exists: true}, runtime.IndexFingerprint(deref(info.JobModifyIndex)), nil
}

// jobDiff is nomad.run's change. Offline (or Nomad unreachable in a plan) the job is
// shown as a create whose results are known after apply. Otherwise Nomad's plan decides:
// a diff of type "None" is Unchanged; else the change carries Nomad's field diff, its
// allocation annotations ("nomad plan: 1 create") and, for a new job, the job as
// HCL-like text.
func (m *module) jobDiff(thread *starlark.Thread, js *spec[api.Job], live runtime.Live, notes []string) runtime.Change {
	job := js.v
	shape := jobShape(job)
	planned := plannedResult(m.run, thread, *job.ID)
	jl, _ := live.Value.(*jobLive)
	switch {
	case !live.Known() || jl == nil:
		return runtime.Change{Action: runtime.Create, Summary: shape, Notes: append(notes, hclNotes(js)...), Planned: planned}
	case jl.plan == nil:
		ch := runtime.Change{Action: runtime.Create, Summary: shape, Notes: append(notes, jl.why), Planned: planned}
		if jl.exists {
			ch.Action = runtime.Update
		} else {
			ch.Notes = append(ch.Notes, hclNotes(js)...)
		}
		return ch
	case jl.plan.Diff != nil && jl.plan.Diff.Type == "None":
		return runtime.Change{Action: runtime.Unchanged, Summary: shape, Notes: notes, Planned: jl.current}
	}
	plan := jl.plan
	ch := runtime.Change{Action: runtime.Update, Summary: shape + planSummary(plan), Planned: planned}
	switch {
	case plan.Diff == nil:
		// We asked for a diff and got none (an older server, or a proxy that drops it):
		// that proves nothing, so the job is registered. No modify index: a new job.
		if plan.JobModifyIndex == 0 {
			ch.Action = runtime.Create
		}
		notes = append(notes, "Nomad's plan answer has no diff, so whether the job changed is unknown: it is registered")
	case plan.Diff.Type == "Added":
		ch.Action = runtime.Create
	default:
		ch.Diff = planDiff(plan.Diff, js.taint)
		notes = append(notes, planAnnotations(plan.Diff)...)
	}
	notes = append(notes, placementNotes(plan)...)
	if ch.Action == runtime.Create {
		notes = append(notes, hclNotes(js)...)
	}
	ch.Notes = notes
	return ch
}

type waitSpec struct {
	mode    string // "healthy", "running" or "" (do not wait)
	timeout time.Duration
}

// register is the apply half of nomad.run: register with the index the plan saw, then
// wait. index 0 means "only if the job does not exist yet", as Nomad defines it.
func (m *module) register(ctx context.Context, thread *starlark.Thread, js *spec[api.Job], index uint64, w waitSpec, checks string) (starlark.Value, error) {
	job := js.v
	id, ns, region := *job.ID, deref(job.Namespace), deref(job.Region)
	c, err := m.api(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := m.preflightTemplates(ctx, thread, job, true, checks); err != nil {
		return nil, err
	}
	if m.opts.BeforeRegister != nil {
		if err := m.opts.BeforeRegister(ctx, c, id); err != nil {
			return nil, fmt.Errorf("test hook: %w", err)
		}
	}
	resp, _, err := c.Jobs().EnforceRegister(job, index, writeOptions(ctx, ns, region))
	if err != nil {
		if strings.Contains(err.Error(), "Enforcing job modify index") {
			return nil, fmt.Errorf("job changed since plan: Nomad refused to register over job modify index %d (%s); run the plan again to see what changed",
				index, nomadText(err))
		}
		return nil, nomadError("register", err)
	}
	if w := strings.TrimSpace(resp.Warnings); w != "" {
		m.run.Warn("nomad job %q: Nomad warns: %s", id, w)
	}
	version, err := m.registeredVersion(ctx, c, id, ns, region, resp.JobModifyIndex)
	if err != nil {
		return nil, err
	}
	if w.mode != "" {
		if err := m.waitJob(ctx, thread, c, job, version, resp.EvalID, w); err != nil {
			// Say that the register happened: a re-run finds the job as asked, and
			// then waits for this version again.
			return nil, fmt.Errorf("registered as version %d, not %s: %w", version, w.mode, err)
		}
	}
	allocs, err := versionAllocations(ctx, c, id, ns, region, version)
	if err != nil {
		return nil, err
	}
	return jobResult(id, version, resp.JobModifyIndex, allocs), nil
}

// settle is the apply half of nomad.run for a job already as asked: wait for its
// current version as a register would, so a version left unhealthy by an interrupted
// run is waited for, or fails with its allocations' events, instead of passing.
func (m *module) settle(ctx context.Context, thread *starlark.Thread, job *api.Job, w waitSpec) (starlark.Value, error) {
	id, ns, region := *job.ID, deref(job.Namespace), deref(job.Region)
	c, err := m.api(ctx)
	if err != nil {
		return nil, err
	}
	info, _, err := c.Jobs().Info(id, queryOptions(ctx, ns, region))
	if err != nil {
		return nil, nomadError("read job", err)
	}
	version := deref(info.Version)
	if err := m.waitJob(ctx, thread, c, job, version, "", w); err != nil {
		return nil, fmt.Errorf("registered as asked (version %d), but not %s: %w", version, w.mode, err)
	}
	return m.currentResult(ctx, c, id, ns, region)
}

// registeredVersion finds the version our register created: the job's current one,
// unless somebody registered again in the meantime.
func (m *module) registeredVersion(ctx context.Context, c *api.Client, id, ns, region string, modifyIndex uint64) (uint64, error) {
	info, _, err := c.Jobs().Info(id, queryOptions(ctx, ns, region))
	if err != nil {
		return 0, nomadError("read job after register", err)
	}
	if deref(info.JobModifyIndex) == modifyIndex {
		return deref(info.Version), nil
	}
	versions, _, _, err := c.Jobs().Versions(id, false, queryOptions(ctx, ns, region))
	if err != nil {
		return 0, nomadError("read job versions", err)
	}
	for _, v := range versions {
		if deref(v.JobModifyIndex) == modifyIndex {
			return deref(v.Version), nil
		}
	}
	return 0, fmt.Errorf("the job was changed again right after our register (modify index %d is no longer among its versions)", modifyIndex)
}

// currentResult is nomad.run's result for a job that was already as asked.
func (m *module) currentResult(ctx context.Context, c *api.Client, id, ns, region string) (starlark.Value, error) {
	info, _, err := c.Jobs().Info(id, queryOptions(ctx, ns, region))
	if err != nil {
		return nil, nomadError("read job", err)
	}
	allocs, err := versionAllocations(ctx, c, id, ns, region, deref(info.Version))
	if err != nil {
		return nil, err
	}
	return jobResult(id, deref(info.Version), deref(info.JobModifyIndex), allocs), nil
}

func jobResult(id string, version, modifyIndex uint64, allocs []*api.AllocationListStub) starlark.Value {
	list := make([]starlark.Value, len(allocs))
	for i, a := range allocs {
		list[i] = allocValue(a)
	}
	return runtime.Struct(starlark.StringDict{
		"id":           starlark.String(id),
		"version":      starlark.MakeUint64(version),
		"modify_index": starlark.MakeUint64(modifyIndex),
		"allocations":  starlark.NewList(list),
	})
}

// plannedResult is the result in a plan: the id is known, the rest only after apply.
func plannedResult(r *runtime.Run, thread *starlark.Thread, id string) starlark.Value {
	u := r.Unknown(thread)
	field := func(name string) starlark.Value { v, _ := u.Attr(name); return v }
	return runtime.Struct(starlark.StringDict{
		"id":           starlark.String(id),
		"version":      field("version"),
		"modify_index": field("modify_index"),
		"allocations":  field("allocations"),
	})
}

// jobShape is "1 group, 1 task".
func jobShape(j *api.Job) string {
	tasks := 0
	for _, g := range j.TaskGroups {
		tasks += len(g.Tasks)
	}
	return runtime.Plural(len(j.TaskGroups), "group") + ", " + runtime.Plural(tasks, "task")
}

// planSummary is " (nomad plan: 1 create, 1 in-place update)" from the allocation
// annotations, in the words `nomad job plan` uses.
func planSummary(p *api.JobPlanResponse) string {
	if p.Annotations == nil || len(p.Annotations.DesiredTGUpdates) == 0 {
		return ""
	}
	var sum api.DesiredUpdates
	for _, u := range p.Annotations.DesiredTGUpdates {
		if u == nil {
			continue
		}
		sum.Place += u.Place
		sum.DestructiveUpdate += u.DestructiveUpdate
		sum.InPlaceUpdate += u.InPlaceUpdate
		sum.Stop += u.Stop
		sum.Migrate += u.Migrate
		sum.Canary += u.Canary
		sum.Preemptions += u.Preemptions
	}
	var parts []string
	for _, kv := range []struct {
		n    uint64
		word string
	}{
		{sum.Place, "create"}, {sum.DestructiveUpdate, "create/destroy update"}, {sum.InPlaceUpdate, "in-place update"},
		{sum.Stop, "destroy"}, {sum.Migrate, "migrate"}, {sum.Canary, "canary"}, {sum.Preemptions, "preemption"},
	} {
		if kv.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kv.n, kv.word))
		}
	}
	if len(parts) == 0 {
		return " (nomad plan: no allocation changes)"
	}
	return " (nomad plan: " + strings.Join(parts, ", ") + ")"
}

// placementNotes say when Nomad's scheduler already knows a group will not be placed
// (no node with the driver, not enough memory, ...), and pass on Nomad's warnings.
func placementNotes(p *api.JobPlanResponse) []string {
	var notes []string
	for _, g := range slices.Sorted(maps.Keys(p.FailedTGAllocs)) {
		notes = append(notes, fmt.Sprintf("group %q would not be placed: %s", g, metricText(p.FailedTGAllocs[g])))
	}
	if w := strings.TrimSpace(p.Warnings); w != "" {
		for _, line := range strings.Split(w, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				notes = append(notes, "nomad warning: "+line)
			}
		}
	}
	return notes
}

func metricText(m *api.AllocationMetric) string {
	if m == nil {
		return "no details"
	}
	var parts []string
	if m.NodesEvaluated == 0 {
		parts = append(parts, "no eligible nodes in the job's datacenters and node pool")
	}
	parts = append(parts, runtime.Plural(m.NodesEvaluated, "node")+" evaluated")
	for _, k := range slices.Sorted(maps.Keys(m.ConstraintFiltered)) {
		parts = append(parts, fmt.Sprintf("constraint %s filtered %d", k, m.ConstraintFiltered[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(m.DimensionExhausted)) {
		parts = append(parts, fmt.Sprintf("%s exhausted on %d", k, m.DimensionExhausted[k]))
	}
	return strings.Join(parts, ", ")
}

// hclNotes is the job as HCL-like text, one note per line, for a job that is created.
func hclNotes(js *spec[api.Job]) []string {
	text := strings.TrimSuffix(renderJob(js.v, js.taint), "\n")
	return strings.Split(text, "\n")
}

// nomadText is Nomad's own message in an error, without the client's wrapping.
func nomadText(err error) string {
	var resp api.UnexpectedResponseError
	if errors.As(err, &resp) && resp.HasBody() {
		return resp.Body()
	}
	return err.Error()
}

// oneLine folds Nomad's multi-error text ("1 error occurred:\n\t* Vault not enabled
// but used in the job\n") into one line for a plan note.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*"))
		if l == "" || (strings.HasSuffix(l, "occurred:") && strings.Contains(l, "error")) {
			continue
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}

func sortAllocs(allocs []*api.AllocationListStub) {
	sort.Slice(allocs, func(i, j int) bool {
		if allocs[i].Name != allocs[j].Name {
			return allocs[i].Name < allocs[j].Name
		}
		return allocs[i].CreateIndex < allocs[j].CreateIndex
	})
}

// jobExists says whether Nomad knows the job (a stopped one too: purging it is a delete).
func (m *module) jobExists(ctx context.Context, id, ns, region string) (bool, error) {
	c, err := m.api(ctx)
	if err != nil {
		return false, err
	}
	_, _, err = c.Jobs().Info(id, queryOptions(ctx, ns, region))
	switch {
	case isNotFound(err):
		return false, nil
	case err != nil:
		return false, nomadError("read job", err)
	}
	return true, nil
}
