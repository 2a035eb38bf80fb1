package nomad

import (
	"context"
	"fmt"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// nomad.stop(id, purge=False, namespace=None, region=None) stops (deregisters) a job.
//
// Unchanged when Nomad has no such job, or it is already stopped and no purge was
// asked. Otherwise a Delete: in a plan it is recorded; in apply the job is deregistered
// (and purged from Nomad's state when purge=True). Not read (offline, or Nomad
// unreachable in a plan), the job's existence is unknown, so the stop is planned as a
// Delete. Returns None.
func (m *module) stopBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var id, ns, region string
	var purge bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "id", &id, "purge?", &purge, "namespace?", &ns, "region?", &region); err != nil {
		return nil, err
	}
	summary := "stop"
	if purge {
		summary = "stop and purge"
	}
	return m.converge(thread, runtime.Resource{
		Server:    m.server,
		Address:   fmt.Sprintf("nomad job %q", id),
		Unblocked: true, // a pending agent config change does not change what a job is
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			c, err := m.api(ctx)
			if err != nil {
				return nil, "", err
			}
			job, _, err := c.Jobs().Info(id, queryOptions(ctx, ns, region))
			switch {
			case isNotFound(err):
				return nil, "", nil // an untyped nil: absent
			case err != nil:
				return nil, "", nomadError("read job", err)
			}
			return job, runtime.IndexFingerprint(deref(job.JobModifyIndex)), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			job, _ := live.Value.(*api.Job)
			switch {
			case !live.Known():
				return runtime.Change{Action: runtime.Delete, Summary: summary,
					Notes: []string{"Nomad was not read: the job may not exist"}, Planned: starlark.None}
			case job == nil:
				return runtime.Change{Action: runtime.Unchanged, Summary: "absent"}
			case deref(job.Stop) && !purge:
				return runtime.Change{Action: runtime.Unchanged, Summary: "already stopped"}
			}
			diff := []runtime.DiffLine{{Op: "-", Key: "status", Before: fmt.Sprintf("%q (version %d)", deref(job.Status), deref(job.Version))}}
			return runtime.Change{Action: runtime.Delete, Summary: summary, Diff: diff, Planned: starlark.None}
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			return starlark.None, m.deregister(ctx, id, ns, region, purge)
		},
	})
}

// deregister stops a job (and purges it from Nomad's state with purge).
func (m *module) deregister(ctx context.Context, id, ns, region string, purge bool) error {
	c, err := m.api(ctx)
	if err != nil {
		return err
	}
	if _, _, err := c.Jobs().Deregister(id, purge, writeOptions(ctx, ns, region)); err != nil {
		return nomadError("deregister", err)
	}
	return nil
}

// converge is Run.Converge, with a read error named by the resource's address, as every
// other error of the resource is (the runtime names those).
func (m *module) converge(thread *starlark.Thread, res runtime.Resource) (starlark.Value, error) {
	var readErr error
	if read := res.Read; read != nil {
		res.Read = func(ctx context.Context) (any, runtime.Fingerprint, error) {
			v, fp, err := read(ctx)
			readErr = err
			return v, fp, err
		}
	}
	v, err := m.run.Converge(thread, res)
	if err != nil && err == readErr {
		return nil, fmt.Errorf("%s: %w", res.Address, err)
	}
	return v, err
}
