package runtimetest

import (
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
)

func runStore(t *testing.T, s *Store, src string, mode runtime.Mode, offline bool) Result {
	t.Helper()
	return Exec(t, Script(t, map[string]string{"main.star": src}), ExecOptions{
		Mode: mode, Offline: offline, Modules: []runtime.Module{StoreModule(s)}, Timeout: time.Minute,
	})
}

// actions is each record as "address action/status".
func actions(res *runtime.Result) []string {
	var out []string
	for _, r := range res.Records {
		out = append(out, r.Address+" "+string(r.Action)+"/"+r.Status)
	}
	return out
}

func wantActions(t *testing.T, r Result, want ...string) {
	t.Helper()
	if got := actions(r.Res); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The store module plans, applies, plans offline, survives an unreachable server and
// plans past a pending init, through the resource API alone (it never asks the mode).
func TestStoreModule(t *testing.T) {
	const put = `store.put("a", "1")` + "\n" + `print("got", store.get("a"))`
	t.Run("plan then apply then plan", func(t *testing.T) {
		s := NewStore(true)
		p := runStore(t, s, put, runtime.Plan, false).MustOK(t)
		wantActions(t, p, `store "a" create/planned`)
		if s.Writes != 0 || s.Reads != 2 || !strings.Contains(p.Out, "got None") {
			t.Errorf("plan: %d writes, %d reads, out %q; want 0 writes, 2 reads, got None", s.Writes, s.Reads, p.Out)
		}
		a := runStore(t, s, put, runtime.Apply, false).MustOK(t)
		wantActions(t, a, `store "a" create/applied`)
		if s.Writes != 1 || !strings.Contains(a.Out, "got 1") {
			t.Errorf("apply: %d writes, out %q", s.Writes, a.Out)
		}
		if fp := a.Res.Records[0].Fingerprint; fp != runtime.Absent || a.Res.Records[0].Delete == nil {
			t.Errorf("apply record: fingerprint %q (want %q), delete recorded: %v", fp, runtime.Absent, a.Res.Records[0].Delete != nil)
		}
		again := runStore(t, s, put, runtime.Plan, false).MustOK(t)
		wantActions(t, again, `store "a" unchanged/unchanged`)
		if fp := again.Res.Records[0].Fingerprint; fp != "index:1" {
			t.Errorf("re-plan fingerprint %q, want index:1 (the store's modify index)", fp)
		}
	})
	t.Run("offline reads nothing", func(t *testing.T) {
		s := NewStore(true)
		p := runStore(t, s, put, runtime.Plan, true).MustOK(t)
		wantActions(t, p, `store "a" create/planned`)
		if s.Reads != 0 || !strings.Contains(p.Out, "got (known after apply: store.get") {
			t.Errorf("offline plan: %d reads, out %q", s.Reads, p.Out)
		}
	})
	t.Run("unreachable: one warning, then offline; apply fails", func(t *testing.T) {
		s := NewStore(true)
		s.Down = true
		p := runStore(t, s, put+"\n"+`store.put("b", "2")`, runtime.Plan, false).MustOK(t)
		wantActions(t, p, `store "a" create/planned`, `store "b" create/planned`)
		want := "store is unreachable (dial tcp: connection refused); the plan shows what store would read as known only after apply"
		if len(p.Res.Warnings) != 1 || p.Res.Warnings[0] != want {
			t.Errorf("warnings %q, want exactly [%q]", p.Res.Warnings, want)
		}
		a := runStore(t, s, put, runtime.Apply, false)
		if a.Err == nil || !strings.Contains(a.ErrMsg, "connection refused") || s.Writes != 0 {
			t.Errorf("apply against a down store: err %q, %d writes; want a refused connection, 0 writes", a.ErrMsg, s.Writes)
		}
	})
	t.Run("pending init blocks reads until apply", func(t *testing.T) {
		s := NewStore(false)
		src := "store.init()\n" + put
		p := runStore(t, s, src, runtime.Plan, false).MustOK(t)
		wantActions(t, p, `store init call/planned`, `store "a" create/planned`)
		if s.Reads != 1 || s.Writes != 0 {
			t.Errorf("plan: %d reads, %d writes; want only init's read", s.Reads, s.Writes)
		}
		if n := p.Res.Records[1].Notes; len(n) != 1 || n[0] != "live state will be read at apply (the store is initialised at apply)" {
			t.Errorf("put's notes %q", n)
		}
		runStore(t, s, src, runtime.Apply, false).MustOK(t)
		if s.Writes != 2 {
			t.Errorf("apply: %d writes, want init and put", s.Writes)
		}
		wantActions(t, runStore(t, s, src, runtime.Plan, false).MustOK(t), `store init unchanged/unchanged`, `store "a" unchanged/unchanged`)
	})
}
