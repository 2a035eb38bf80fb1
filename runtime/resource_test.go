package runtime_test

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// flaky is a module whose server refuses the first `failures` reads, as one restarting
// after a config change does; patience is its Server.Patience.
type flaky struct {
	failures, reads, writes int
	patience                time.Duration
}

func (f *flaky) module() runtime.Module {
	return runtime.Module{Name: "flaky", New: func(r *runtime.Run) (starlark.Value, error) {
		srv := r.Server("flaky")
		srv.Patience(f.patience)
		read := func(context.Context) (any, runtime.Fingerprint, error) {
			f.reads++
			if f.reads <= f.failures {
				return nil, "", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			}
			return nil, "", nil
		}
		get := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return r.Query(thread, runtime.Query{Server: srv, Address: "flaky thing", Read: func(ctx context.Context) (runtime.Answer, error) {
				_, _, err := read(ctx)
				return runtime.Answer{Value: starlark.String("answer")}, err
			}})
		}
		put := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return r.Converge(thread, runtime.Resource{
				Server: srv, Address: "flaky thing",
				Read: read,
				Diff: func(runtime.Live) runtime.Change { return runtime.Change{Action: runtime.Create} },
				Write: func(context.Context, runtime.Live) (starlark.Value, error) {
					f.writes++
					return starlark.None, nil
				},
			})
		}
		return &starlarkstruct.Module{Name: "flaky", Members: starlark.StringDict{
			"put": starlark.NewBuiltin("flaky.put", put),
			"get": starlark.NewBuiltin("flaky.get", get),
		}}, nil
	}}
}

// An apply waits, up to the server's patience, for a server that does not answer yet; a
// plan never waits (one attempt, one warning), and without patience an apply fails at once.
// Resources (put) and queries (get) alike.
func TestServerPatience(t *testing.T) {
	cases := []struct {
		name                  string
		src                   string
		mode                  runtime.Mode
		failures              int
		patience              time.Duration
		wantReads, wantWrites int
		wantErr, wantWarning  string
	}{
		{"apply waits", "flaky.put()", runtime.Apply, 3, time.Minute, 4, 1, "", ""},
		{"apply without patience fails", "flaky.put()", runtime.Apply, 1, 0, 1, 0, "connection refused", ""},
		{"plan does not wait", "flaky.put()", runtime.Plan, 3, time.Minute, 1, 0, "", "flaky is unreachable (dial tcp: connection refused)"},
		{"apply query waits", `print(flaky.get())`, runtime.Apply, 3, time.Minute, 4, 0, "", ""},
		{"apply query without patience fails", `print(flaky.get())`, runtime.Apply, 1, 0, 1, 0, "connection refused", ""},
		{"plan query does not wait", `print(flaky.get())`, runtime.Plan, 3, time.Minute, 1, 0, "", "flaky is unreachable (dial tcp: connection refused)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &flaky{failures: c.failures, patience: c.patience}
			r := runtimetest.Exec(t, runtimetest.Script(t, map[string]string{"main.star": c.src + "\n"}), runtimetest.ExecOptions{
				Mode: c.mode, Modules: []runtime.Module{f.module()}, Timeout: time.Minute,
			})
			if f.reads != c.wantReads || f.writes != c.wantWrites {
				t.Errorf("%d reads, %d writes; want %d, %d", f.reads, f.writes, c.wantReads, c.wantWrites)
			}
			if (c.wantErr == "") != (r.Err == nil) || !strings.Contains(r.ErrMsg, c.wantErr) {
				t.Errorf("error %q, want %q", r.ErrMsg, c.wantErr)
			}
			if c.wantWarning != "" && (r.Res == nil || len(r.Res.Warnings) != 1 || !strings.HasPrefix(r.Res.Warnings[0], c.wantWarning)) {
				t.Errorf("warnings %v, want one starting %q", r.Res.Warnings, c.wantWarning)
			}
		})
	}
}
