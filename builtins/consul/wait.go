package consul

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// wait(name, passing=True, timeout="2m") waits until the service has an instance whose
// checks all pass (with passing=False: until it has any instance at all), and returns
// those instances as consul.service does.
//
// It is recorded as a Read. A plan does not wait: what it would find is known only
// after apply. In apply it polls the health API through Run.Wait, so progress shows, and
// the timeout error lists every check that is not passing, with its status and output,
// which is usually the reason (a refused port, a 500).
func (c *consul) wait(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name runtime.StringArg
	var timeoutV starlark.Value = starlark.String("2m")
	passing := true
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "passing?", &passing, "timeout?", &timeoutV); err != nil {
		return nil, err
	}
	var timeout runtime.DurationArg
	if err := runtime.UnpackArg(fn.Name(), "timeout", timeoutV, &timeout); err != nil {
		return nil, err
	}
	want := "passing"
	if !passing {
		want = "registered"
	}
	return c.run.Query(thread, runtime.Query{
		Server:  c.server,
		Address: "consul health " + name.Shown(),
		Unknown: name.UnknownText(),
		Record:  true,
		Summary: fmt.Sprintf("wait until %s (timeout %s)", want, runtime.ShortDuration(timeout.D())),
		// No Read: a plan does not wait, so what the wait finds is known only after apply.
		Settle: func(ctx context.Context) (starlark.Value, error) {
			client, err := c.api()
			if err != nil {
				return nil, err
			}
			var found []*api.ServiceEntry
			err = c.run.Wait(thread, runtime.WaitSpec{
				What:     fmt.Sprintf("consul service %q to be %s", name.Value, want),
				Timeout:  timeout.D(),
				Interval: time.Second,
				Poll: func(ctx context.Context) (bool, string, error) {
					entries, _, err := client.Health().Service(name.Value, "", false, (&api.QueryOptions{}).WithContext(ctx))
					if err != nil {
						if runtime.IsUnreachable(err) && ctx.Err() == nil { // the agent may be restarting: keep trying
							return false, c.wrap(err).Error(), nil
						}
						return false, "", c.wrap(err)
					}
					ok, status := healthy(entries, passing)
					found = ok
					return len(ok) > 0, status, nil
				},
			})
			if err != nil {
				return nil, err
			}
			return instanceList(found), nil
		},
	})
}

// healthy returns the instances that satisfy the wait (passing ones, or all of them when
// any health will do), and otherwise a status naming every check that is not passing.
func healthy(entries []*api.ServiceEntry, passing bool) ([]*api.ServiceEntry, string) {
	if len(entries) == 0 {
		return nil, "no instances registered"
	}
	if !passing {
		return entries, ""
	}
	var ok []*api.ServiceEntry
	var failing []string
	for _, e := range entries {
		if e.Checks.AggregatedStatus() == api.HealthPassing {
			ok = append(ok, e)
			continue
		}
		for _, chk := range e.Checks {
			if chk.Status != api.HealthPassing {
				failing = append(failing, describeCheck(chk))
			}
		}
	}
	if len(ok) > 0 {
		return ok, ""
	}
	sort.Strings(failing)
	return nil, fmt.Sprintf("0 of %d instances passing: %s", len(entries), strings.Join(failing, "; "))
}

// describeCheck is e.g. "check service:web (tcp): critical: dial tcp 127.0.0.1:1234:
// connect: connection refused".
func describeCheck(chk *api.HealthCheck) string {
	s := "check " + chk.CheckID
	if chk.Type != "" {
		s += " (" + chk.Type + ")"
	}
	s += ": " + chk.Status
	out := strings.Join(strings.Fields(chk.Output), " ")
	if r := []rune(out); len(r) > 200 {
		out = string(r[:200]) + "…"
	}
	if out != "" {
		s += ": " + out
	}
	return s
}
