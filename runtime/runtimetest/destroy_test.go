package runtimetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
)

func destroyStore(t *testing.T, s *Store, src string, mode runtime.Mode) Result {
	t.Helper()
	return Exec(t, Script(t, map[string]string{"main.star": src}), ExecOptions{
		Mode: mode, Destroy: true, Modules: []runtime.Module{StoreModule(s)}, Timeout: time.Minute,
	})
}

// A destroy undoes what the script made, last first; keep=True exempts a resource; a
// second destroy deletes nothing; applying again converges.
func TestDestroy(t *testing.T) {
	const src = `store.init()
step("first")
store.put("a", "1")
step("second")
store.put("b", "2")
store.put("k", "3", keep = True)
print("a is", store.get("a"))
`
	s := NewStore(false)
	runStore(t, s, src, runtime.Apply, false).MustOK(t)
	if len(s.data) != 3 {
		t.Fatalf("apply made %v, want a, b and k", s.data)
	}

	writes := s.Writes
	p := destroyStore(t, s, src, runtime.Plan).MustOK(t)
	wantActions(t, p, `store init unchanged/unchanged`, `store "a" delete/planned`, `store "b" delete/planned`, `store "k" unchanged/unchanged`)
	if s.Writes != writes {
		t.Errorf("destroy plan wrote %d times", s.Writes-writes)
	}
	ia, ib := strings.Index(p.Plan, `-  store "a"`), strings.Index(p.Plan, `-  store "b"`)
	if ia < 0 || ib < 0 || ib > ia {
		t.Errorf("destroy plan should list b before a (reverse order):\n%s", p.Plan)
	}
	for _, want := range []string{"Destroy: 2 to delete, 1 kept.", `store "k"`, "kept (keep=True)", "from step 2  second"} {
		if !strings.Contains(p.Plan, want) {
			t.Errorf("destroy plan lacks %q:\n%s", want, p.Plan)
		}
	}
	if len(p.Res.Warnings) != 0 || p.Res.Incomplete {
		t.Errorf("destroy plan warnings %q, incomplete %v; want none", p.Res.Warnings, p.Res.Incomplete)
	}
	if !strings.Contains(p.JSON, `"action": "delete"`) || !strings.Contains(p.JSON, `"destroy": true`) {
		t.Errorf("destroy plan JSON lacks the deletes:\n%s", p.JSON)
	}

	d := destroyStore(t, s, src, runtime.Apply).MustOK(t)
	wantActions(t, d, `store init unchanged/unchanged`, `store "a" delete/applied`, `store "b" delete/applied`, `store "k" unchanged/unchanged`)
	if !slices.Equal(s.Deleted, []string{"b", "a"}) {
		t.Errorf("deleted %q, want [b a] (reverse order of the script)", s.Deleted)
	}
	if _, ok := s.data["k"]; !ok || len(s.data) != 1 {
		t.Errorf("after destroy the store holds %v, want only k (keep=True)", s.data)
	}
	if !strings.Contains(d.Plan, "Destroy complete: 2 deleted.") {
		t.Errorf("destroy summary:\n%s", d.Plan)
	}

	writes = s.Writes
	again := destroyStore(t, s, src, runtime.Apply).MustOK(t)
	if again.Res.Changes() || s.Writes != writes || !strings.Contains(again.Plan, "Destroy complete: 0 deleted.") {
		t.Errorf("second destroy: changes %v, %d writes, summary %q; want none", again.Res.Changes(), s.Writes-writes, again.Plan)
	}

	runStore(t, s, src, runtime.Apply, false).MustOK(t)
	conv := runStore(t, s, src, runtime.Plan, false).MustOK(t)
	if conv.Res.Changes() || len(s.data) != 3 {
		t.Errorf("apply after destroy did not converge: %v, store %v", actions(conv.Res), s.data)
	}
}

// keep= is checked: a bool, and only on builtins that make something.
func TestDestroyKeepBadInput(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"not a bool", `store.put("a", "1", keep = "yes")`, "store.put: keep: want True or False, not string"},
		{"on a read", `store.get("a", keep = True)`, "store.get: keep=True is for builtins that make something to destroy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore(true)
			r := runStore(t, s, tc.src, runtime.Apply, false)
			if r.Err == nil || !strings.Contains(r.ErrMsg, tc.want) || !strings.Contains(r.ErrMsg, "main.star:1") || s.Writes != 0 {
				t.Errorf("err %q, %d writes; want %q at main.star:1, 0 writes", r.ErrMsg, s.Writes, tc.want)
			}
		})
	}
}

// A failed delete stops the destroy: what is left is still there, and a re-run finishes.
func TestDestroyFailureThenRerun(t *testing.T) {
	const src = `step("one")` + "\n" + `store.put("a", "1")` + "\n" + `store.put("b", "2")`
	s := NewStore(true)
	runStore(t, s, src, runtime.Apply, false).MustOK(t)
	s.DeleteFails = "b"
	r := destroyStore(t, s, src, runtime.Apply)
	if r.Err == nil || !strings.Contains(r.ErrMsg, `step 1 (one): store "b": store refuses to delete "b"`) || len(s.data) != 2 {
		t.Fatalf("failed destroy: err %q, store %v; want b's error with its step, nothing deleted", r.ErrMsg, s.data)
	}
	s.DeleteFails = ""
	destroyStore(t, s, src, runtime.Apply).MustOK(t)
	if len(s.data) != 0 || !slices.Equal(s.Deleted, []string{"b", "a"}) {
		t.Errorf("re-run of the destroy left %v, deleted %q", s.data, s.Deleted)
	}
}

// A destroy plan that cannot read (offline, or behind a pending init) shows each delete
// "if present"; the apply then reads and deletes only what is there.
func TestDestroyUnread(t *testing.T) {
	const src = `store.init()` + "\n" + `store.put("a", "1")`
	s := NewStore(false)
	for _, offline := range []bool{true, false} {
		r := Exec(t, Script(t, map[string]string{"main.star": src}), ExecOptions{
			Mode: runtime.Plan, Offline: offline, Destroy: true, Modules: []runtime.Module{StoreModule(s)}, Timeout: time.Minute,
		}).MustOK(t)
		if !strings.Contains(r.Plan, `-  store "a"                                      if present`) || s.Writes != 0 {
			t.Errorf("offline %v: destroy plan (%d writes):\n%s", offline, s.Writes, r.Plan)
		}
	}
	destroyStore(t, s, src, runtime.Apply).MustOK(t)
	if len(s.Deleted) != 0 {
		t.Errorf("the destroy deleted %q from an empty store", s.Deleted)
	}
}
