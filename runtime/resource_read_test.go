package runtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// gate is a module for the runtime's side of reads: gate.put() converges a thing whose
// read fails with readErr (if set); gate.login() blocks the server's reads as a login
// with a token known only after apply does (Server.Block); gate.get() is a plain query.
// unread is what Server.Unread said at each gate.get.
type gate struct {
	readErr error
	reads   int
	unread  []runtime.Unread
}

func (g *gate) module() runtime.Module {
	return runtime.Module{Name: "gate", New: func(r *runtime.Run) (starlark.Value, error) {
		srv := r.Server("gate")
		put := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return r.Converge(thread, runtime.Resource{
				Server: srv, Address: "gate thing",
				Read: func(context.Context) (any, runtime.Fingerprint, error) {
					g.reads++
					return nil, "", g.readErr
				},
				Diff: func(runtime.Live) runtime.Change { return runtime.Change{Action: runtime.Create} },
			})
		}
		login := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			srv.Block("locked until apply")
			return starlark.None, nil
		}
		get := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			g.unread = append(g.unread, srv.Unread())
			return r.Query(thread, runtime.Query{Server: srv, Address: "gate value",
				Read: func(context.Context) (runtime.Answer, error) {
					g.reads++
					return runtime.Answer{Value: starlark.String("v")}, nil
				}})
		}
		return &starlarkstruct.Module{Name: "gate", Members: starlark.StringDict{
			"put":   starlark.NewBuiltin("gate.put", put),
			"login": starlark.NewBuiltin("gate.login", login),
			"get":   starlark.NewBuiltin("gate.get", get),
		}}, nil
	}}
}

// A read that fails (other than unreachable) fails the call in plan and apply, as a
// failed record whose error names the step and the address, like a failed write.
func TestFailedReadIsAFailedRecord(t *testing.T) {
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		t.Run(mode.String(), func(t *testing.T) {
			g := &gate{readErr: errors.New("permission denied")}
			r := runtimetest.Exec(t, runtimetest.Script(t, map[string]string{"main.star": "step(\"Open\")\ngate.put()\n"}), runtimetest.ExecOptions{
				Mode: mode, Modules: []runtime.Module{g.module()}, SkipPreflight: true, Timeout: time.Minute,
			})
			if r.Err == nil || !strings.Contains(r.ErrMsg, "step 1 (Open): gate thing: permission denied") {
				t.Fatalf("error %q, want one naming the step and the address", r.ErrMsg)
			}
			if r.Res == nil || len(r.Res.Records) != 1 {
				t.Fatalf("records: %+v, want the failed read", r.Res)
			}
			if rec := r.Res.Records[0]; rec.Action != runtime.Read || rec.Status != "failed" || rec.Error != "permission denied" || rec.Address != "gate thing" {
				t.Errorf("record %+v, want a failed read of gate thing", rec)
			}
		})
	}
}

// Server.Block holds a plan's later reads of the server (Server.Unread says why); an
// apply, where every value is known, ignores it. Offline, Unread says so.
func TestServerBlockAndUnread(t *testing.T) {
	for _, c := range []struct {
		name       string
		mode       runtime.Mode
		offline    bool
		wantReads  int
		wantUnread []runtime.Unread
	}{
		{"plan", runtime.Plan, false, 1, []runtime.Unread{"", "locked until apply"}},
		{"offline plan", runtime.Plan, true, 0, []runtime.Unread{runtime.UnreadOffline, runtime.UnreadOffline}},
		{"apply", runtime.Apply, false, 2, []runtime.Unread{"", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &gate{}
			runtimetest.Exec(t, runtimetest.Script(t, map[string]string{"main.star": "gate.get()\ngate.login()\ngate.get()\n"}), runtimetest.ExecOptions{
				Mode: c.mode, Offline: c.offline, Modules: []runtime.Module{g.module()}, SkipPreflight: true, Timeout: time.Minute,
			}).MustOK(t)
			if g.reads != c.wantReads {
				t.Errorf("%d reads, want %d", g.reads, c.wantReads)
			}
			if len(g.unread) != len(c.wantUnread) || g.unread[0] != c.wantUnread[0] || g.unread[1] != c.wantUnread[1] {
				t.Errorf("Unread %q, want %q", g.unread, c.wantUnread)
			}
		})
	}
}
