package nomad

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// nomad.status(id, namespace=None, region=None) reads a job: a struct, or None when
// Nomad has no such job. Offline (or Nomad unreachable in a plan) it is unknown. A read
// is not a change, so it is not recorded.
//
//	struct(id, name, type, namespace, status, stop, version, modify_index, datacenters,
//	       groups = {name: struct(count, queued, starting, running, failed, complete, lost)})
func (m *module) statusBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var id, ns, region string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "id", &id, "namespace?", &ns, "region?", &region); err != nil {
		return nil, err
	}
	v, err := m.run.Query(thread, runtime.Query{
		Server:    m.server,
		Address:   fmt.Sprintf("nomad job %q", id),
		Unblocked: true, // a pending agent config change does not change what a job is
		Read: func(ctx context.Context) (runtime.Answer, error) {
			c, err := m.api(ctx)
			if err != nil {
				return runtime.Answer{}, err
			}
			return m.readStatus(ctx, c, id, ns, region)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	return v, nil
}

// readStatus is nomad.status's answer: the job as a struct, or None.
func (m *module) readStatus(ctx context.Context, c *api.Client, id, ns, region string) (runtime.Answer, error) {
	job, _, err := c.Jobs().Info(id, queryOptions(ctx, ns, region))
	if isNotFound(err) {
		return runtime.Answer{Value: starlark.None, Fingerprint: runtime.Absent}, nil
	}
	if err != nil {
		return runtime.Answer{}, nomadError("read job "+id, err)
	}
	groups := starlark.NewDict(len(job.TaskGroups))
	summary, _, err := c.Jobs().Summary(id, queryOptions(ctx, ns, region))
	if err != nil && !isNotFound(err) {
		return runtime.Answer{}, nomadError("read job summary "+id, err)
	}
	for _, g := range job.TaskGroups {
		var s api.TaskGroupSummary
		if summary != nil {
			s = summary.Summary[deref(g.Name)]
		}
		_ = groups.SetKey(starlark.String(deref(g.Name)), runtime.Struct(starlark.StringDict{
			"count":    starlark.MakeInt(deref(g.Count)),
			"queued":   starlark.MakeInt(s.Queued),
			"starting": starlark.MakeInt(s.Starting),
			"running":  starlark.MakeInt(s.Running),
			"failed":   starlark.MakeInt(s.Failed),
			"complete": starlark.MakeInt(s.Complete),
			"lost":     starlark.MakeInt(s.Lost),
		}))
	}
	dcs := make([]starlark.Value, len(job.Datacenters))
	for i, dc := range job.Datacenters {
		dcs[i] = starlark.String(dc)
	}
	return runtime.Answer{Fingerprint: runtime.IndexFingerprint(deref(job.JobModifyIndex)), Value: runtime.Struct(starlark.StringDict{
		"id":           starlark.String(deref(job.ID)),
		"name":         starlark.String(deref(job.Name)),
		"type":         starlark.String(deref(job.Type)),
		"namespace":    starlark.String(deref(job.Namespace)),
		"status":       starlark.String(deref(job.Status)),
		"stop":         starlark.Bool(deref(job.Stop)),
		"version":      starlark.MakeUint64(deref(job.Version)),
		"modify_index": starlark.MakeUint64(deref(job.JobModifyIndex)),
		"datacenters":  starlark.NewList(dcs),
		"groups":       groups,
	})}, nil
}

// nomad.allocations(id, namespace=None, region=None) lists a job's allocations (all
// versions, oldest first): [struct(id, name, group, node_id, job_version,
// desired_status, client_status, client_description, healthy, task_states = {task:
// struct(state, failed, restarts, events = [struct(type, message, time)])})].
// [] when the job does not exist; unknown offline.
func (m *module) allocationsBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var id, ns, region string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "id", &id, "namespace?", &ns, "region?", &region); err != nil {
		return nil, err
	}
	v, err := m.run.Query(thread, runtime.Query{
		Server:    m.server,
		Address:   fmt.Sprintf("nomad job %q allocations", id),
		Unblocked: true, // a pending agent config change does not change what a job is
		Read: func(ctx context.Context) (runtime.Answer, error) {
			c, err := m.api(ctx)
			if err != nil {
				return runtime.Answer{}, err
			}
			allocs, meta, err := c.Jobs().Allocations(id, true, queryOptions(ctx, ns, region))
			if isNotFound(err) {
				return runtime.Answer{Value: starlark.NewList(nil), Fingerprint: runtime.Absent}, nil
			}
			if err != nil {
				return runtime.Answer{}, nomadError("list allocations of "+id, err)
			}
			sortAllocs(allocs)
			list := make([]starlark.Value, len(allocs))
			for i, a := range allocs {
				list[i] = allocValue(a)
			}
			return runtime.Answer{Value: starlark.NewList(list), Fingerprint: runtime.IndexFingerprint(meta.LastIndex)}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	return v, nil
}

// versionAllocations are the allocations of one job version.
func versionAllocations(ctx context.Context, c *api.Client, id, ns, region string, version uint64) ([]*api.AllocationListStub, error) {
	all, _, err := c.Jobs().Allocations(id, false, queryOptions(ctx, ns, region))
	if err != nil {
		return nil, nomadError("list allocations of "+id, err)
	}
	var out []*api.AllocationListStub
	for _, a := range all {
		if a.JobVersion == version {
			out = append(out, a)
		}
	}
	sortAllocs(out)
	return out, nil
}

func allocValue(a *api.AllocationListStub) starlark.Value {
	var healthy starlark.Value = starlark.None
	if a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil {
		healthy = starlark.Bool(*a.DeploymentStatus.Healthy)
	}
	states := starlark.NewDict(len(a.TaskStates))
	for _, name := range slices.Sorted(maps.Keys(a.TaskStates)) {
		ts := a.TaskStates[name]
		if ts == nil {
			continue
		}
		events := make([]starlark.Value, len(ts.Events))
		for i, e := range ts.Events {
			msg := eventText(e)
			if len(msg) > len(e.Type)+2 {
				msg = msg[len(e.Type)+2:]
			} else {
				msg = ""
			}
			events[i] = runtime.Struct(starlark.StringDict{
				"type":    starlark.String(e.Type),
				"message": starlark.String(msg),
				"time":    starlark.String(time.Unix(0, e.Time).UTC().Format(time.RFC3339)),
			})
		}
		_ = states.SetKey(starlark.String(name), runtime.Struct(starlark.StringDict{
			"state":    starlark.String(ts.State),
			"failed":   starlark.Bool(ts.Failed),
			"restarts": starlark.MakeUint64(ts.Restarts),
			"events":   starlark.NewList(events),
		}))
	}
	return runtime.Struct(starlark.StringDict{
		"id":                 starlark.String(a.ID),
		"name":               starlark.String(a.Name),
		"group":              starlark.String(a.TaskGroup),
		"node_id":            starlark.String(a.NodeID),
		"job_version":        starlark.MakeUint64(a.JobVersion),
		"desired_status":     starlark.String(a.DesiredStatus),
		"client_status":      starlark.String(a.ClientStatus),
		"client_description": starlark.String(a.ClientDescription),
		"healthy":            healthy,
		"task_states":        states,
	})
}
