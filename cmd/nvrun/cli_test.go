package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime/runtimetest"
)

func TestDetailedExitcode(t *testing.T) {
	srv := runtimetest.NewServer()
	script := writeScript(t, `probe.put("a", "1")`)
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"plan with changes", []string{"--plan", "--detailed-exitcode"}, 2},
		{"plan without the flag", []string{"--plan"}, 0},
		{"apply with changes", []string{"--detailed-exitcode"}, 2},
		{"apply again: nothing to do", []string{"--detailed-exitcode"}, 0},
		{"plan after apply", []string{"--plan", "--detailed-exitcode"}, 0},
	}
	for _, c := range cases {
		res := nvrun(t, srv, nil, append(c.args, script)...)
		if res.code != c.want {
			t.Fatalf("%s: exit %d, want %d\n%s%s", c.name, res.code, c.want, res.stdout, res.stderr)
		}
	}
	if res := nvrun(t, srv, nil, "--detailed-exitcode", writeScript(t, "fail('x')")); res.code != 1 {
		t.Fatalf("error exit = %d, want 1", res.code)
	}
}

// Under --detailed-exitcode, 2 means "changes": every error, a usage error included,
// exits 1 there, as terraform does. Without the flag a usage error keeps exit 2.
func TestDetailedExitcodeUsageErrors(t *testing.T) {
	script := writeScript(t, "x = var('x', 1)\n")
	cases := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--nope", script}},
		{"missing script", []string{"no/such/file.star"}},
		{"no script", nil},
		{"bad --var", []string{"--var", "x", script}},
		{"undeclared --var", []string{"--var", "y=1", script}},
		{"bad --var-file", []string{"--var-file", "no/such.json", script}},
	}
	for _, c := range cases {
		for _, flag := range []string{"--detailed-exitcode", "--detailed-exitcode=true"} {
			if res := nvrun(t, nil, nil, append([]string{flag, "--plan"}, c.args...)...); res.code != 1 {
				t.Errorf("%s with %s: exit %d, want 1\n%s", c.name, flag, res.code, res.stderr)
			}
		}
		if res := nvrun(t, nil, nil, append([]string{"--plan"}, c.args...)...); res.code != 2 {
			t.Errorf("%s without --detailed-exitcode: exit %d, want 2\n%s", c.name, res.code, res.stderr)
		}
	}
	if res := nvrun(t, nil, nil, "--detailed-exitcode=false", "--nope", script); res.code != 2 {
		t.Errorf("--detailed-exitcode=false: exit %d, want 2", res.code)
	}
}

func TestJSONIsPureAndRedacted(t *testing.T) {
	srv := runtimetest.NewServer()
	script := writeScript(t, "step('s')\nt = probe.mint('x')\nprint('token is', t.token)\nprobe.put('copy', t.token)\n")
	for _, args := range [][]string{{"--plan", "--json"}, {"--json"}} {
		res := nvrun(t, srv, nil, append(args, script)...)
		if res.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, res.code, res.stderr)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
			t.Fatalf("%v: stdout is not one JSON document: %v\n%s", args, err, res.stdout)
		}
		if doc["mode"] == nil || doc["steps"] == nil || doc["summary"] == nil {
			t.Fatalf("%v: JSON lacks mode/steps/summary: %s", args, res.stdout)
		}
		if strings.Contains(res.stdout+res.stderr, srv.Secret) {
			t.Fatalf("%v: secret leaked", args)
		}
		if !strings.Contains(res.stderr, "token is (sensitive)") && args[0] == "--json" {
			t.Fatalf("print output should go to stderr under --json: %q", res.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	script := writeScript(t, "x = 1")
	cases := map[string][]string{
		"no script":     {},
		"unknown flag":  {"--nope", script},
		"missing file":  {"no/such/file.star"},
		"directory":     {"testdata"},
		"two scripts":   {script, script},
		"negative time": {"--timeout=-1s", script},
	}
	for name, args := range cases {
		res := nvrun(t, nil, nil, args...)
		if res.code != 2 {
			t.Errorf("%s: exit %d, want 2", name, res.code)
		}
		if lines := strings.Count(strings.TrimSpace(res.stderr), "\n"); lines != 1 || !strings.Contains(res.stderr, "usage: nvrun") {
			t.Errorf("%s: want a one-line error and a one-line hint, got:\n%s", name, res.stderr)
		}
	}
}

func TestVersionAndVars(t *testing.T) {
	if res := nvrun(t, nil, nil, "--version"); res.code != 0 || !strings.HasPrefix(res.stdout, "nvrun ") {
		t.Fatalf("--version: %d %q", res.code, res.stdout)
	}
	srv := runtimetest.NewServer()
	script := writeScript(t, "r = var('token_role', 'nomad-cluster', doc = 'the role')\nprobe.put('a', r)\n")
	res := nvrun(t, srv, nil, "--vars", script)
	if res.code != 0 || !strings.Contains(res.stdout, "token_role") || !strings.Contains(res.stdout, "the role") {
		t.Fatalf("--vars: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if srv.Writes() != 0 {
		t.Fatal("--vars performed an effect")
	}
}

func TestNoColorWhenNotATerminal(t *testing.T) {
	res := nvrun(t, runtimetest.NewServer(), nil, "--plan", writeScript(t, "step('s')\nprobe.put('a', '1')"))
	if strings.Contains(res.stdout, "\033[") {
		t.Fatalf("colour codes in non-terminal output: %q", res.stdout)
	}
}

func TestJSONOnPreflightError(t *testing.T) {
	srv := runtimetest.NewServer()
	res := nvrun(t, srv, nil, "--json", writeScript(t, "probe.put('a', '1')\nx = 1 + 'two'\n"))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1", res.code)
	}
	var doc struct {
		Mode  string
		Error string
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
	}
	if doc.Mode != "apply" || !strings.Contains(doc.Error, "main.star:2") || srv.Writes() != 0 {
		t.Fatalf("doc = %+v, writes %d", doc, srv.Writes())
	}
}

// --vars runs the script offline; a script that fails there (a fail(), a builtin that
// needs a live value) still lists the vars it declared up to that point, says the list
// stops there, and exits 1. Long defaults are cut so that the table stays readable.
func TestVarsListedWhenScriptFailsOffline(t *testing.T) {
	srv := runtimetest.NewServer()
	script := writeScript(t, `a = var("a", "x", doc = "the a")
hosts = var("hosts", ["host-number-one.example", "host-number-two.example", "host-number-three.example"], doc = "the hosts")
if probe.get("k") == None:
    pass
fail("needs a live server")
z = var("z", 1, doc = "declared after the failure")
`)
	res := nvrun(t, srv, nil, "--vars", script)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "the a") || !strings.Contains(res.stdout, "the hosts") || strings.Contains(res.stdout, "declared after") {
		t.Fatalf("want a and hosts listed, not z:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, `["host-number-one.example", "host-numbe…`) || strings.Contains(res.stdout, "host-number-two") {
		t.Fatalf("the long default should be cut to 40 characters and an ellipsis:\n%s", res.stdout)
	}
	if !strings.Contains(res.stderr, "main.star:5") || !strings.Contains(res.stderr, "needs a live server") || !strings.Contains(res.stderr, "vars declared after it are not listed") {
		t.Fatalf("stderr should say where the script stopped and that the list may be incomplete:\n%s", res.stderr)
	}
	if srv.Writes() != 0 {
		t.Fatal("--vars performed an effect")
	}
}
