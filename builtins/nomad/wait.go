package nomad

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// waitJob waits until the allocations of one job version run (w.mode "running") or are
// healthy (w.mode "healthy": the version's deployment succeeded or, for a job without a
// deployment, every allocation runs and none is unhealthy).
//
// It fails fast rather than at the timeout when Nomad already knows the outcome: the
// evaluation could not place the job, an allocation of this version failed, or its
// deployment failed. The error then carries the task events, which is where Nomad says
// why ("Vault: failed to derive vault token: ...", "Template failed: ...").
func (m *module) waitJob(ctx context.Context, thread *starlark.Thread, c *api.Client, job *api.Job, version uint64, evalID string, w waitSpec) error {
	id, ns, region := *job.ID, deref(job.Namespace), deref(job.Region)
	expected := 0
	for _, g := range job.TaskGroups {
		expected += deref(g.Count)
	}
	system := deref(job.Type) == "system" || deref(job.Type) == "sysbatch"
	batch := deref(job.Type) == "batch" || deref(job.Type) == "sysbatch"
	evalDone := evalID == ""
	var last []*api.AllocationListStub

	interval := m.opts.PollInterval
	if interval == 0 {
		interval = 500 * time.Millisecond
	}
	err := m.run.Wait(thread, runtime.WaitSpec{
		What:     fmt.Sprintf("nomad job %q version %d %s", id, version, w.mode),
		Timeout:  w.timeout,
		Interval: interval,
		Poll: func(pctx context.Context) (bool, string, error) {
			if !evalDone {
				ev, _, err := c.Evaluations().Info(evalID, queryOptions(pctx, ns, region))
				if err != nil {
					return false, "", nomadError("read evaluation", err)
				}
				switch ev.Status {
				case "failed", "canceled":
					return false, "", fmt.Errorf("evaluation %s %s: %s", short(ev.ID), ev.Status, ev.StatusDescription)
				case "complete":
					evalDone = true
					if len(ev.FailedTGAllocs) > 0 {
						var parts []string
						for _, g := range slices.Sorted(maps.Keys(ev.FailedTGAllocs)) {
							parts = append(parts, fmt.Sprintf("group %q: %s", g, metricText(ev.FailedTGAllocs[g])))
						}
						return false, "", fmt.Errorf("Nomad could not place the job: %s", strings.Join(parts, "; "))
					}
				}
			}
			allocs, err := versionAllocations(pctx, c, id, ns, region, version)
			if err != nil {
				return false, "", err
			}
			last = allocs
			if failed := failedAllocs(allocs); len(failed) > 0 {
				return false, "", fmt.Errorf("%s\n%s", failedSummary(failed), allocEvents(failed))
			}
			running, healthy, unhealthy := 0, 0, 0
			for _, a := range allocs {
				if a.DesiredStatus != "run" {
					continue
				}
				if a.ClientStatus == "running" || (batch && a.ClientStatus == "complete") {
					running++
				}
				if a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil {
					if *a.DeploymentStatus.Healthy {
						healthy++
					} else {
						unhealthy++
					}
				}
			}
			want := expected
			if system {
				want = max(1, countDesired(allocs))
			}
			status := fmt.Sprintf("%d/%d allocations running", running, want)
			if w.mode == "running" {
				return running >= want, status, nil
			}

			d, _, err := c.Jobs().LatestDeployment(id, queryOptions(pctx, ns, region))
			if err != nil {
				return false, "", nomadError("read deployment", err)
			}
			if d != nil && d.JobVersion == version {
				status += fmt.Sprintf(", deployment %s", d.Status)
				switch d.Status {
				case "successful":
					return true, status, nil
				case "failed", "cancelled":
					// The allocations were read before the deployment: a task that failed
					// in between failed the deployment but is not in them yet. Read them
					// again, so the error shows the failure's own events.
					if fresh, err := versionAllocations(pctx, c, id, ns, region, version); err == nil {
						allocs = fresh
						if failed := failedAllocs(allocs); len(failed) > 0 {
							return false, "", fmt.Errorf("%s\n%s", failedSummary(failed), allocEvents(failed))
						}
					}
					return false, "", fmt.Errorf("deployment %s %s: %s\n%s", short(d.ID), d.Status, d.StatusDescription, allocEvents(allocs))
				}
				return false, status + deploymentHealth(d), nil
			}
			if unhealthy > 0 {
				return false, "", fmt.Errorf("%d allocation(s) of version %d are unhealthy\n%s", unhealthy, version, allocEvents(allocs))
			}
			// No deployment tracks this version (a batch or system job, or a job without
			// an update strategy): healthy means running and not reported unhealthy.
			return running >= want, status, nil
		},
	})
	if err != nil && m.run.Context().Err() == nil && strings.HasPrefix(err.Error(), "timed out") && len(last) > 0 {
		err = fmt.Errorf("%w\n%s", err, allocEvents(last))
	}
	return err
}

func deploymentHealth(d *api.Deployment) string {
	placed, healthy, total := 0, 0, 0
	for _, s := range d.TaskGroups {
		placed += s.PlacedAllocs
		healthy += s.HealthyAllocs
		total += s.DesiredTotal
	}
	return fmt.Sprintf(" (%d/%d healthy, %d placed)", healthy, total, placed)
}

func countDesired(allocs []*api.AllocationListStub) int {
	n := 0
	for _, a := range allocs {
		if a.DesiredStatus == "run" {
			n++
		}
	}
	return n
}

// failedAllocs are allocations that will not become healthy by waiting: the client
// gave up on them, or one of their tasks failed for good.
func failedAllocs(allocs []*api.AllocationListStub) []*api.AllocationListStub {
	var out []*api.AllocationListStub
	for _, a := range allocs {
		if a.NextAllocation != "" {
			continue // Nomad replaced it: the replacement is what counts
		}
		failed := a.ClientStatus == "failed" || a.ClientStatus == "lost"
		for _, ts := range a.TaskStates {
			if ts != nil && ts.Failed {
				failed = true
			}
		}
		if failed {
			out = append(out, a)
		}
	}
	return out
}

func failedSummary(failed []*api.AllocationListStub) string {
	if len(failed) == 1 {
		a := failed[0]
		return fmt.Sprintf("allocation %s (group %q) %s", short(a.ID), a.TaskGroup, a.ClientStatus)
	}
	return fmt.Sprintf("%d allocations failed", len(failed))
}

// allocEvents lists, per allocation and task, the recent task events: Nomad's own
// explanation of what went wrong.
func allocEvents(allocs []*api.AllocationListStub) string {
	var b strings.Builder
	for _, a := range allocs {
		fmt.Fprintf(&b, "  allocation %s (group %q, version %d): %s", short(a.ID), a.TaskGroup, a.JobVersion, a.ClientStatus)
		if a.ClientDescription != "" {
			fmt.Fprintf(&b, " (%s)", a.ClientDescription)
		}
		b.WriteString("\n")
		for _, name := range slices.Sorted(maps.Keys(a.TaskStates)) {
			ts := a.TaskStates[name]
			if ts == nil {
				continue
			}
			state := ts.State
			if ts.Failed {
				state += ", failed"
			}
			fmt.Fprintf(&b, "    task %q (%s):\n", name, state)
			events := ts.Events
			if len(events) > 8 {
				events = events[len(events)-8:]
			}
			for _, e := range events {
				fmt.Fprintf(&b, "      %s\n", eventText(e))
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// eventText is "Type: message", taking the message from wherever this event kind keeps
// it (DisplayMessage on current Nomad, the older per-kind fields otherwise).
func eventText(e *api.TaskEvent) string {
	msg := e.DisplayMessage
	for _, alt := range []string{e.Message, e.VaultError, e.DriverError, e.SetupError, e.KillError, e.ValidationError,
		e.DownloadError, e.RestartReason, e.KillReason, e.DriverMessage} {
		if msg == "" {
			msg = alt
		}
	}
	if msg == "" {
		return e.Type
	}
	// Vault's errors, passed on by Nomad, span lines ("Error making API request.\n\nURL:
	// ...\nCode: 403. Errors:\n\n* permission denied"): one line per event reads better.
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "* ")); l != "" {
			parts = append(parts, l)
		}
	}
	return e.Type + ": " + strings.Join(parts, " ")
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
