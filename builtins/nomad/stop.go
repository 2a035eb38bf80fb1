package nomad

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// nomad.stop(id, purge=False, namespace=None, region=None) stops (deregisters) a job.
//
// Unchanged when Nomad has no such job, or it is already stopped and no purge was
// asked. Otherwise a Delete: in a plan it is recorded; in apply the job is deregistered
// (and purged from Nomad's state when purge=True). Offline, the job's existence is
// unknown, so the stop is planned as a Delete. Returns None.
func (m *module) stopBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var id, ns, region string
	var purge bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "id", &id, "purge?", &purge, "namespace?", &ns, "region?", &region); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("nomad job %q", id)
	summary := "stop"
	if purge {
		summary = "stop and purge"
	}
	c, live, err := m.live()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	deregister := func(ctx context.Context) (starlark.Value, error) {
		if _, _, err := c.Jobs().Deregister(id, purge, writeOptions(ctx, ns, region)); err != nil {
			return nil, nomadError("deregister", err)
		}
		return starlark.None, nil
	}
	if !live {
		return m.run.Effect(thread, runtime.Change{Address: addr, Action: runtime.Delete, Summary: summary,
			Notes: []string{"Nomad was not read: the job may not exist"}, Planned: starlark.None, Apply: deregister})
	}
	job, _, err := c.Jobs().Info(id, queryOptions(m.run.Context(), ns, region))
	if isNotFound(err) {
		return m.run.Effect(thread, runtime.Change{Address: addr, Action: runtime.Unchanged, Summary: "absent"})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, nomadError("read job", err))
	}
	if deref(job.Stop) && !purge {
		return m.run.Effect(thread, runtime.Change{Address: addr, Action: runtime.Unchanged, Summary: "already stopped"})
	}
	diff := []runtime.DiffLine{{Op: "-", Key: "status", Before: fmt.Sprintf("%q (version %d)", deref(job.Status), deref(job.Version))}}
	return m.run.Effect(thread, runtime.Change{Address: addr, Action: runtime.Delete, Summary: summary, Diff: diff,
		Planned: starlark.None, Apply: deregister})
}
