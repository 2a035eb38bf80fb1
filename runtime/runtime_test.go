package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/golden"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

func TestPlanThenApplyThenUnchanged(t *testing.T) {
	srv := runtimetest.NewServer()
	script := runtimetest.Script(t, map[string]string{"main.star": `
step("write two keys")
probe.put("a", "1")
probe.put("b", "2")
`})
	plan := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Plan})
	if plan.Err != nil {
		t.Fatal(plan.Err)
	}
	if srv.Writes() != 0 {
		t.Fatalf("plan wrote %d times", srv.Writes())
	}
	if s := plan.Res.Summary(); s.Create != 2 || s.Unchanged != 0 {
		t.Fatalf("plan summary = %+v, want 2 creates", s)
	}
	if !strings.Contains(plan.Plan, `+  probe "a"`) || !strings.Contains(plan.Plan, "Plan: 2 to create, 0 to update") {
		t.Fatalf("plan text:\n%s", plan.Plan)
	}

	apply := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Apply})
	if apply.Err != nil {
		t.Fatal(apply.Err)
	}
	if srv.Writes() != 2 {
		t.Fatalf("apply wrote %d times, want 2", srv.Writes())
	}
	if v, _ := srv.Get("b"); v != "2" {
		t.Fatalf("b = %q", v)
	}
	if !strings.Contains(apply.Out, "Step 1  write two keys") || !strings.Contains(apply.Out, `probe "a"`) {
		t.Fatalf("apply progress:\n%s", apply.Out)
	}

	again := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Plan})
	if s := again.Res.Summary(); s.Unchanged != 2 || again.Res.Changes() {
		t.Fatalf("second plan = %+v, want 2 unchanged", s)
	}
	exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Apply})
	if srv.Writes() != 2 {
		t.Fatalf("second apply wrote: %d writes total, want still 2", srv.Writes())
	}
}

func TestUpdateShowsDiff(t *testing.T) {
	srv := runtimetest.NewServer()
	exec(t, srv, runtimetest.Script(t, map[string]string{"main.star": `probe.put("a", "old")`}), runtimetest.ExecOptions{Mode: runtime.Apply})
	r := exec(t, srv, runtimetest.Script(t, map[string]string{"main.star": `probe.put("a", "new")`}), runtimetest.ExecOptions{Mode: runtime.Plan})
	if !strings.Contains(r.Plan, `~ value: "old" -> "new"`) || r.Res.Summary().Update != 1 {
		t.Fatalf("plan:\n%s", r.Plan)
	}
}

func TestUnknownPropagation(t *testing.T) {
	srv := runtimetest.NewServer()
	script := runtimetest.Script(t, map[string]string{"main.star": `
t = probe.mint("nomad")
print(t.token)
print(t.token.inner["k"][0])
print(t.token + "/suffix")
probe.put("copy", t.token)
`})
	r := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Plan, Offline: true})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, want := range []string{
		"(known after apply: probe.mint.token, main.star:2)",
		`(known after apply: probe.mint.token.inner["k"][0], main.star:2)`,
		"(known after apply: probe.mint.token + …, main.star:2)",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("print output lacks %q:\n%s", want, r.Out)
		}
	}
	if got := r.Res.Summary().KnownAfterApply; got != 2 {
		t.Errorf("known after apply = %d, want 2 (mint, put)", got)
	}
	if !strings.Contains(r.Plan, "2 known only after apply") {
		t.Errorf("plan:\n%s", r.Plan)
	}
}

func TestBranchingOnUnknownIsFlagged(t *testing.T) {
	cases := map[string]string{
		"if":   "v = probe.get('k')\nif v:\n    probe.put('x', 'y')\n",
		"for":  "v = probe.get('k')\nfor x in v:\n    pass\n",
		"bool": "v = probe.get('k')\nb = bool(v)\n",
		"len":  "v = probe.get('k')\nn = len(v)\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			r := exec(t, runtimetest.NewServer(), runtimetest.Script(t, map[string]string{"main.star": src}),
				runtimetest.ExecOptions{Mode: runtime.Plan, Offline: true})
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !r.Res.Incomplete {
				t.Fatal("plan not marked incomplete")
			}
			if !strings.Contains(r.Plan, "main.star:2: the script branches on a value known only after apply (probe.get, from main.star:1)") {
				t.Fatalf("plan lacks the branch warning:\n%s", r.Plan)
			}
			if !strings.Contains(r.JSON, `"incomplete": true`) {
				t.Fatalf("json lacks incomplete:\n%s", r.JSON)
			}
		})
	}
}

func TestSecretCanaryNeverPrinted(t *testing.T) {
	srv := runtimetest.NewServer()
	script := runtimetest.Script(t, map[string]string{"main.star": `
step("mint")
t = probe.mint("nomad")
print(t.token)
print(str(t.token), repr(t.token), [t.token], {"k": t.token})
print(t)
probe.put("copy", t.token)
probe.put("pw", var("pw", "hunter2-canary", sensitive = True))
probe.leak(t.token)
`})
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r := exec(t, srv, script, runtimetest.ExecOptions{Mode: mode})
		if mode == runtime.Apply && r.Err == nil {
			t.Fatal("probe.leak should fail the apply")
		}
		all := r.All()
		for _, canary := range []string{srv.Secret, "hunter2-canary", "Q0FOQVJZLXMzY3IzdC03ZjFkMmE"} {
			if strings.Contains(all, canary) {
				t.Fatalf("%s output leaks %q:\n%s", mode, canary, all)
			}
		}
		if mode == runtime.Apply && !strings.Contains(r.ErrMsg, "bad token "+`"(sensitive)"`) {
			t.Fatalf("leaked error not redacted in place: %s", r.ErrMsg)
		}
	}
	// The secret really went to the server: redaction is of output only.
	if v, _ := srv.Get("copy"); v != srv.Secret {
		t.Fatalf("server got %q", v)
	}
}

func TestRedactorForms(t *testing.T) {
	red := runtime.NewRedactor()
	secret := `p@ss"word\with/odd+chars`
	red.Add(secret)
	red.Add("abc") // too short to scrub from free text
	for _, form := range []string{
		secret,
		`p@ss\"word\\with/odd+chars`,       // JSON-escaped
		"cEBzcyJ3b3JkXHdpdGgvb2RkK2NoYXJz", // base64
		"cEBzcyJ3b3JkXHdpdGgvb2RkK2NoYXJz", // raw base64 (same, no padding needed)
		"cEBzcyJ3b3JkXHdpdGgvb2RkK2NoYXJz", // url base64
	} {
		got := red.Redact("x " + form + " y")
		if got != "x (sensitive) y" {
			t.Errorf("Redact(%q) = %q", form, got)
		}
	}
	if got := red.Redact("abc"); got != "abc" {
		t.Errorf("short secret scrubbed: %q", got)
	}
}

// Percent-encoded (query and path) and hex forms of a secret are scrubbed too: a
// password in a connection URL, an unseal key (Vault's are hex) shown in upper case.
func TestRedactorEncodedForms(t *testing.T) {
	cases := []struct {
		name, secret, form string
	}{
		{"query escape", "p@ss word/+&=x", "p%40ss+word%2F%2B%26%3Dx"},
		{"path escape", "p@ss word/+&=x", "p@ss%20word%2F+&=x"},
		{"hex of the bytes", "hunter2-pw", "68756e746572322d7077"},
		{"upper hex of the bytes", "hunter2-pw", "68756E746572322D7077"},
		{"hex key in upper case", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9F8E7D6C5B4A39281706F5E4D3C2B1A0"},
		{"upper hex key in lower case", "9F8E7D6C5B4A39281706F5E4D3C2B1A0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			red := runtime.NewRedactor()
			red.Add(c.secret)
			if got := red.Redact("x " + c.form + " y"); got != "x (sensitive) y" {
				t.Errorf("Redact(%q) = %q", c.form, got)
			}
		})
	}
}

func TestPreflightBlocksWrites(t *testing.T) {
	cases := map[string]string{
		"type error after a write": "probe.put('a', '1')\nx = 1 + 'two'\n",
		"fail() after a write":     "probe.put('a', '1')\nfail('stop here')\n",
		"bad var after a write":    "probe.put('a', '1')\nn = var('n', 1)\n",
		"bad load after a write":   "probe.put('a', '1')\nload('missing.star', 'x')\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			srv := runtimetest.NewServer()
			r := exec(t, srv, runtimetest.Script(t, map[string]string{"main.star": src}),
				runtimetest.ExecOptions{Mode: runtime.Apply, Vars: []string{"n=notanint"}})
			var pre *runtime.PreflightError
			if !errors.As(r.Err, &pre) {
				t.Fatalf("err = %v, want a preflight error", r.Err)
			}
			if srv.Writes() != 0 {
				t.Fatalf("%d writes despite a failing preflight", srv.Writes())
			}
			if !strings.Contains(r.ErrMsg, "main.star:") {
				t.Fatalf("error lacks file:line: %s", r.ErrMsg)
			}
		})
	}
}

func TestServerFaultMidApplyConverges(t *testing.T) {
	srv := runtimetest.NewServer()
	files := map[string]string{"main.star": "step('one')\nprobe.put('a', '1')\nstep('two')\nif var('broken', True):\n    probe.fail('server exploded')\nprobe.put('b', '2')\n"}
	script := runtimetest.Script(t, files)
	r := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Apply})
	if r.Err == nil || !strings.Contains(r.ErrMsg, "step 2 (two): probe fault: server exploded") {
		t.Fatalf("err = %q", r.ErrMsg)
	}
	if !strings.Contains(r.ErrMsg, "main.star:5:") {
		t.Fatalf("error lacks the backtrace position: %s", r.ErrMsg)
	}
	if srv.Writes() != 1 {
		t.Fatalf("writes = %d, want 1 (a only)", srv.Writes())
	}
	r = exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Apply, Vars: []string{"broken=false"}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if s := r.Res.Summary(); s.Unchanged != 1 || s.Create != 1 {
		t.Fatalf("re-run summary %+v, want a unchanged and b created", s)
	}
}

func TestRunawayScriptIsStopped(t *testing.T) {
	r := exec(t, runtimetest.NewServer(), runtimetest.Script(t, map[string]string{"main.star": "x = 0\nwhile True:\n    x += 1\n"}),
		runtimetest.ExecOptions{Mode: runtime.Plan, MaxSteps: 10000})
	if r.Err == nil || !strings.Contains(r.ErrMsg, "exceeded 10000 execution steps") || !strings.Contains(r.ErrMsg, "main.star:") {
		t.Fatalf("err = %q", r.ErrMsg)
	}
}

func TestCancelStopsScript(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": "x = 0\nwhile True:\n    x += 1\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := runtime.Exec(ctx, runtime.Options{Script: script, Mode: runtime.Plan, Environ: []string{}}, runtime.NewRedactor())
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadRules(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside.star")
	if err := os.WriteFile(outside, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files map[string]string
		link  string // main-dir-relative symlink name pointing at outside
		want  string // error substring; "" means success
	}{
		{"relative and nested", map[string]string{
			"main.star":  "load('lib/a.star', 'a')\nprint(a)",
			"lib/a.star": "load('b.star', 'b')\na = 'a' + b",
			"lib/b.star": "load('../c.star', 'c')\nb = 'b' + c",
			"c.star":     "c = 'c'",
		}, "", ""},
		{"stdlib", map[string]string{"main.star": "load('@stdlib//policy.star', 'policy_paths')\nprint(policy_paths('a', 'b'))"}, "", ""},
		{"cycle", map[string]string{
			"main.star": "load('a.star', 'a')", "a.star": "load('b.star', 'b')\na = 1", "b.star": "load('a.star', 'a')\nb = 1",
		}, "", "load cycle: main.star -> a.star -> b.star -> a.star"},
		{"escape", map[string]string{"main.star": "load('../outside.star', 'x')"}, "", "outside the script's directory"},
		{"escape from a subdir", map[string]string{"main.star": "load('lib/a.star', 'x')", "lib/a.star": "load('../../outside.star', 'x')"}, "", "outside the script's directory"},
		{"absolute", map[string]string{"main.star": "load('" + outside + "', 'x')"}, "", "absolute paths are not allowed"},
		{"symlink escape", map[string]string{"main.star": "load('link.star', 'x')"}, "link.star", "outside the script's directory"},
		{"missing", map[string]string{"main.star": "load('nope.star', 'x')"}, "", `load "nope.star": no such file`},
		{"unknown repo", map[string]string{"main.star": "load('@other//x.star', 'x')"}, "", "unknown repository"},
		{"missing stdlib", map[string]string{"main.star": "load('@stdlib//nope.star', 'x')"}, "", "no such stdlib file"},
		{"stdlib escape", map[string]string{"main.star": "load('@stdlib//../x.star', 'x')"}, "", "not a stdlib file"},
		{"NUL bytes", map[string]string{"main.star": "\x00\x00\x00\x00"}, "", "main.star:1:1: the file contains a NUL byte"},
		{"NUL in a comment", map[string]string{"main.star": "x = 1\n# é \x00\n"}, "", "main.star:2:5: the file contains a NUL byte"},
		{"not UTF-8 in a string", map[string]string{"main.star": "x = 1\ny = 'ab\xff'\n"}, "", "main.star:2:8: the file is not valid UTF-8 (byte 0xff)"},
		{"binary loaded file", map[string]string{"main.star": "load('lib/a.star', 'a')", "lib/a.star": "a = 1\n#\x89PNG\x00\n"}, "", "lib/a.star:2:2: the file is not valid UTF-8 (byte 0x89)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			script := runtimetest.Script(t, c.files)
			if c.link != "" {
				if err := os.Symlink(outside, filepath.Join(filepath.Dir(script), c.link)); err != nil {
					t.Fatal(err)
				}
			}
			r := exec(t, runtimetest.NewServer(), script, runtimetest.ExecOptions{Mode: runtime.Plan})
			if c.want == "" {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				return
			}
			if r.Err == nil || !strings.Contains(r.ErrMsg, c.want) {
				t.Fatalf("err = %q, want it to contain %q", r.ErrMsg, c.want)
			}
			if !strings.Contains(r.ErrMsg, ".star:") {
				t.Fatalf("err lacks file:line: %q", r.ErrMsg)
			}
		})
	}
}

func TestGoldenPlan(t *testing.T) {
	srv := runtimetest.NewServer()
	exec(t, srv, runtimetest.Script(t, map[string]string{"main.star": "probe.put('same', 'x')\nprobe.put('changed', 'old')"}), runtimetest.ExecOptions{Mode: runtime.Apply})
	script := runtimetest.Script(t, map[string]string{"main.star": `
step("Create things")
probe.put("same", "x")
probe.put("changed", "new")
probe.put("fresh", "v")
step("Mint a token")
t = probe.mint("nomad")
probe.put("token-copy", t.token)
step("Nothing here")
`})
	r := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Plan})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	golden.Check(t, "plan.txt", r.Plan)
	golden.Check(t, "plan.json", r.JSON)
}

func TestDeferRunsAtEndEvenOnError(t *testing.T) {
	srv := runtimetest.NewServer()
	script := runtimetest.Script(t, map[string]string{"main.star": "probe.put('a', '1')\nprobe.fail('boom')\n"})
	var ran []string
	mod := runtime.Module{Name: "cleanup", New: func(r *runtime.Run) (starlark.Value, error) {
		r.Defer("first", func(context.Context) error { ran = append(ran, "first"); return nil })
		r.Defer("second", func(context.Context) error { ran = append(ran, "second"); return errors.New("nope") })
		return starlark.None, nil
	}}
	r := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Apply, Modules: []runtime.Module{mod}, SkipPreflight: true})
	if r.Err == nil {
		t.Fatal("want the probe fault")
	}
	if strings.Join(ran, ",") != "second,first" {
		t.Fatalf("deferred ran %v, want second,first", ran)
	}
	if !strings.Contains(strings.Join(r.Res.Warnings, "\n"), "cleanup second failed: nope") {
		t.Fatalf("warnings = %v", r.Res.Warnings)
	}
}

// A wait whose deadline cuts off a poll in flight reports a timeout with the last status
// seen, not the cut-off request's error (which says nothing about why it never got ready).
func TestWaitDeadlineDuringPollReportsLastStatus(t *testing.T) {
	srv := runtimetest.NewServer()
	script := runtimetest.Script(t, map[string]string{"main.star": `probe.wait("200ms")` + "\n"})
	res := exec(t, srv, script, runtimetest.ExecOptions{Mode: runtime.Apply})
	if res.Err == nil {
		t.Fatal("a wait that never gets ready succeeded")
	}
	msg := res.Err.Error()
	if !strings.Contains(msg, "timed out after 200ms waiting for the probe: not ready yet") || strings.Contains(msg, "probe request") {
		t.Fatalf("error should be the timeout with the last status; got:\n%s", msg)
	}
}
