package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// storeCLI runs the CLI with the runtimetest store module over s.
func storeCLI(t *testing.T, s *runtimetest.Store, args ...string) cli {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, []string{}, &out, &errb, []runtime.Module{runtimetest.StoreModule(s)})
	return cli{code: code, stdout: out.String(), stderr: errb.String()}
}

// --destroy through the CLI: the plan text lists the deletes last first and counts them,
// --json calls them "delete", the apply deletes and says how many.
func TestDestroyCLI(t *testing.T) {
	s := runtimetest.NewStore(true)
	script := writeScript(t, "step(\"one\")\nstore.put(\"a\", \"1\")\nstep(\"two\")\nstore.put(\"b\", \"2\", keep = False)\nstore.put(\"c\", \"3\", keep = True)\n")
	if res := storeCLI(t, s, script); res.code != 0 {
		t.Fatalf("apply: exit %d\n%s", res.code, res.stderr)
	}
	plan := storeCLI(t, s, "--plan", "--destroy", "--detailed-exitcode", script)
	want := "Destroy, in reverse order of the script\n" +
		"  -  store \"b\"                                      from step 2  two\n" +
		"  -  store \"a\"                                      from step 1  one\n" +
		"Kept (keep=True)\n" +
		"  =  store \"c\"                                      kept (keep=True)\n" +
		"\nDestroy: 2 to delete, 1 kept.\n"
	if plan.code != 2 || plan.stdout != want {
		t.Errorf("--plan --destroy: exit %d (want 2: changes), stdout:\n%s\nwant:\n%s", plan.code, plan.stdout, want)
	}
	js := storeCLI(t, s, "--plan", "--destroy", "--json", script)
	if js.code != 0 || strings.Count(js.stdout, `"action": "delete"`) != 2 || !strings.Contains(js.stdout, `"destroy": true`) {
		t.Errorf("--plan --destroy --json: exit %d\n%s", js.code, js.stdout)
	}
	if len(s.Deleted) != 0 {
		t.Fatalf("a destroy plan deleted %q", s.Deleted)
	}
	d := storeCLI(t, s, "--destroy", script)
	if d.code != 0 || !strings.Contains(d.stdout, "Destroy complete: 2 deleted.") || strings.Join(s.Deleted, ",") != "b,a" {
		t.Errorf("--destroy: exit %d, deleted %q\n%s%s", d.code, s.Deleted, d.stdout, d.stderr)
	}
	if again := storeCLI(t, s, "--destroy", "--detailed-exitcode", script); again.code != 0 || !strings.Contains(again.stdout, "Destroy complete: 0 deleted.") {
		t.Errorf("second --destroy: exit %d\n%s", again.code, again.stdout)
	}
}

// A destroy makes no change that a builtin records without a resource (Run.Effect), and
// --destroy with a flag it cannot go with is a usage error that runs nothing.
func TestDestroyBadInput(t *testing.T) {
	srv := runtimetest.NewServer()
	script := writeScript(t, `probe.put("a", "1")`)
	if res := nvrun(t, srv, nil, "--destroy", script); res.code != 0 || srv.Writes() != 0 {
		t.Errorf("--destroy of an Effect-only script: exit %d, %d writes; want 0, 0\n%s", res.code, srv.Writes(), res.stderr)
	}
	res := nvrun(t, srv, nil, "--destroy", "--vars", script)
	if res.code != 2 || !strings.Contains(res.stderr, "--destroy cannot be combined with --vars") || srv.Writes() != 0 {
		t.Errorf("--destroy --vars: exit %d, %d writes\n%s", res.code, srv.Writes(), res.stderr)
	}
	for _, args := range [][]string{
		{"--destroy", "--apply-plan", filepath.Join(t.TempDir(), "plan.json")},
		{"--destroy", "--plan", "--out", filepath.Join(t.TempDir(), "plan.json"), script},
	} {
		res := nvrun(t, srv, nil, args...)
		if res.code != 2 || !strings.Contains(res.stderr, "--destroy cannot be combined with --apply-plan or --out") || srv.Writes() != 0 {
			t.Errorf("%v: exit %d, %d writes\n%s", args, res.code, srv.Writes(), res.stderr)
		}
	}
}
