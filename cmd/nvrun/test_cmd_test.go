package main

import (
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// The fixtures of `nvrun test` itself live in testdata/nvruntest (the CLI tests run
// from the repository root): pass/ passes, fail/ has two failing tests, bad/ one file
// per kind of bad input.
func TestTestCommand(t *testing.T) {
	const dir = "testdata/nvruntest/"
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // regexps, each must match
		not    []string // regexps that must not match stdout
		stderr string   // regexp; "" means stderr must be empty
	}{
		{name: "all pass", args: []string{dir + "pass"}, code: 0,
			stdout: []string{`(?m)^ok  \t` + dir + `pass/hello_test.star\t\d+\.\d\ds$`},
			not:    []string{`=== RUN`, `--- PASS`, `a line from the test`, `(?m)^FAIL`}},
		{name: "no PATH: the current directory, testdata/ skipped", args: nil, code: 0,
			stdout: []string{`(?m)^ok  \tscripts/guide_test.star\t`, `(?m)^ok  \tscripts/workload-identity_test.star\t`},
			not:    []string{`testdata/`}},
		{name: "-v shows every test and its output", args: []string{"-v", dir + "pass"}, code: 0,
			stdout: []string{`(?m)^=== RUN   test_described_http_answers$`, `(?m)^--- PASS: test_described_http_answers \(\d+\.\d\ds\)$`,
				`(?m)^    a line from the test$`, `(?m)^ok  \t`}},
		{name: "a failure", args: []string{dir + "fail"}, code: 1,
			stdout: []string{
				`(?m)^--- FAIL: test_eq_fails \(` + dir + `fail/fail_test.star:8\)\n    assert.eq: the dicts: values differ\n      got:  \{"a": 1\}\n      want: \{"a": 2\}\n    printed before the failure\n`,
				`(?m)^--- FAIL: test_contains_fails \(` + dir + `fail/fail_test.star:11\)\n    assert.contains: \["x", "y"\]\n      does not contain "z"\n`,
				`(?m)^FAIL\t` + dir + `fail/fail_test.star\t\d+\.\d\ds\nFAIL\n$`},
			not: []string{`test_passes`}},
		{name: "-run selects", args: []string{"-run", "^test_passes$", dir + "fail"}, code: 0,
			stdout: []string{`(?m)^ok  \t` + dir + `fail/fail_test.star`}, not: []string{`FAIL`}},
		{name: "--run=, -v=true spellings", args: []string{"--run=contains", "-v", dir + "fail"}, code: 1,
			stdout: []string{`=== RUN   test_contains_fails`}, not: []string{`test_eq_fails`, `test_passes`}},
		{name: "-run matching nothing", args: []string{"-run", "nothing", dir + "fail"}, code: 0,
			stdout: []string{`ok  \t` + dir + `fail/fail_test.star\t\d+\.\d\ds \[no tests to run\]`}},
		{name: "syntax error", args: []string{dir + "bad/syntax_test.star"}, code: 1,
			stdout: []string{`(?m)^` + dir + `bad/syntax_test.star:1:18: got ':', want '\)'\nFAIL\t` + dir + `bad/syntax_test.star \[setup failed\]\nFAIL\n$`}},
		{name: "test_ with parameters", args: []string{dir + "bad/params_test.star"}, code: 1,
			stdout: []string{`(?m)^` + dir + `bad/params_test.star:4: test function test_takes_args takes 2 parameter\(s\); a test function takes none`},
			not:    []string{`test_ok`}},
		{name: "unknown state key", args: []string{dir + "bad/statekey_test.star"}, code: 1,
			stdout: []string{`(?m)^--- FAIL: test_typo \(` + dir + `bad/statekey_test.star:2\)\n    state.http: unknown key "answer" \(did you mean "answers"\?\)`}},
		{name: "unknown state.vault key at the top level", args: []string{dir + "bad/vaultkey_test.star"}, code: 1,
			stdout: []string{`(?m)^` + dir + `bad/vaultkey_test.star:2: state.vault: unknown key "polices" \(did you mean "policies"\?\)\nFAIL\t` + dir + `bad/vaultkey_test.star \[setup failed\]`}},
		{name: "script outside the test's tree", args: []string{dir + "bad/outside/sub"}, code: 1,
			stdout: []string{`(?m)^--- FAIL: test_escapes \(` + dir + `bad/outside/sub/outside_test.star:2\)\n    plan: script "../x.star" is outside the test file's directory tree`}},
		{name: "bad calls of the test API", args: []string{dir + "bad/args_test.star"}, code: 1,
			stdout: []string{
				`--- FAIL: test_state_not_a_list \(` + dir + `bad/args_test.star:4\)\n    plan: state must be a list of state.vault\(...\), .*got state.http\n`,
				`--- FAIL: test_two_of_a_kind \(` + dir + `bad/args_test.star:7\)\n    plan: state describes http twice\b`,
				`--- FAIL: test_not_a_described_server \(` + dir + `bad/args_test.star:10\)\n    plan: state\[0\] is dict, want a described server`,
				`--- FAIL: test_positional_state_args \(` + dir + `bad/args_test.star:13\)\n    state.vault: takes keyword arguments only`,
				`--- FAIL: test_var_key_not_a_string \(` + dir + `bad/args_test.star:16\)\n    plan: vars: key 1 is not a string`,
				`--- FAIL: test_env_value_not_a_string \(` + dir + `bad/args_test.star:19\)\n    plan: env: want \{NAME: "value"\} strings`,
				`--- FAIL: test_missing_script \(` + dir + `bad/args_test.star:22\)\n    plan: script "nope.star": no such file`,
			}},
		{name: "bad -run regex", args: []string{"-run", "(", dir + "pass"}, code: 2,
			stderr: `^nvrun test: -run: error parsing regexp: missing closing \): .*\nusage: nvrun test`},
		{name: "unknown flag", args: []string{"--verbos", dir + "pass"}, code: 2, stderr: `unknown flag: --verbos`},
		{name: "missing path", args: []string{dir + "nope"}, code: 2, stderr: `nvrun test: ` + dir + `nope: no such file or directory`},
		{name: "no test files", args: []string{"scripts/lib"}, code: 1, stderr: `nvrun test: no \*_test.star files in scripts/lib`},
		{name: "--junit needs a file", args: []string{"--junit=", dir + "pass"}, code: 2, stderr: `--junit needs a FILE`},
		{name: "help", args: []string{"--help"}, code: 0, stderr: `Flags:\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := nvrun(t, nil, nil, append([]string{"test"}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, re := range tt.stdout {
				if !regexp.MustCompile(re).MatchString(r.stdout) {
					t.Errorf("stdout does not match %q:\n%s", re, r.stdout)
				}
			}
			for _, re := range tt.not {
				if regexp.MustCompile(re).MatchString(r.stdout) {
					t.Errorf("stdout matches %q, want not:\n%s", re, r.stdout)
				}
			}
			if tt.stderr == "" && r.stderr != "" || tt.stderr != "" && !regexp.MustCompile(tt.stderr).MatchString(r.stderr) {
				t.Errorf("stderr = %q, want %q", r.stderr, tt.stderr)
			}
		})
	}
}

// A script literally named "test" is still a script: only a first argument that is
// exactly "test" is the command.
func TestTestCommandLeavesScriptNamedTest(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "test")
	if err := os.WriteFile(script, []byte(`print("I am a script")`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := nvrun(t, nil, nil, "--plan", script)
	if r.code != 0 || !strings.Contains(r.stdout, "I am a script") {
		t.Fatalf("nvrun --plan %s: exit %d\n%s%s", script, r.code, r.stdout, r.stderr)
	}
	r = nvrun(t, nil, nil, "--plan", "--", "test")
	if r.code != 2 || !strings.Contains(r.stderr, "script test: no such file") {
		t.Fatalf("nvrun --plan -- test (no such file here): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestTestCommandJUnit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.xml")
	r := nvrun(t, nil, nil, "test", "--junit", out, "testdata/nvruntest/pass", "testdata/nvruntest/fail", "testdata/nvruntest/bad/syntax_test.star")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the report is not XML: %v\n%s", err, data)
	}
	if doc.Tests != 13 || doc.Failures != 2 || doc.Errors != 1 || len(doc.Suites) != 3 {
		t.Fatalf("totals: tests=%d failures=%d errors=%d suites=%d, want 13, 2, 1, 3\n%s", doc.Tests, doc.Failures, doc.Errors, len(doc.Suites), data)
	}
	fail := doc.Suites[1]
	if fail.Name != "testdata/nvruntest/fail/fail_test.star" || fail.Tests != 3 || fail.Failures != 2 {
		t.Fatalf("fail suite: %+v", fail)
	}
	eq := fail.Cases[1]
	if eq.Name != "test_eq_fails" || eq.Failure == nil || eq.Failure.Message != "assert.eq: the dicts: values differ" ||
		!strings.HasPrefix(eq.Failure.Text, "testdata/nvruntest/fail/fail_test.star:8: ") || eq.SystemOut != "printed before the failure\n" {
		t.Fatalf("test_eq_fails case: %+v / %+v", eq, eq.Failure)
	}
	if fail.Cases[0].Failure != nil || fail.Cases[0].Name != "test_passes" {
		t.Fatalf("test_passes case: %+v", fail.Cases[0])
	}
	syntax := doc.Suites[2]
	if syntax.Errors != 1 || len(syntax.Cases) != 1 || syntax.Cases[0].Error == nil || !strings.Contains(syntax.Cases[0].Error.Text, "syntax_test.star:1:18") {
		t.Fatalf("syntax suite: %+v", syntax)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".report.xml.*")); len(left) != 0 {
		t.Fatalf("temporary files left beside the report: %v", left)
	}
}

// nvrun test never contacts a server: a script pointed (through the process's
// environment and its own vars) at a listener this test owns plans against nothing,
// and the listener is never dialled.
func TestTestCommandDialsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	addr := "http://" + ln.Addr().String()
	for _, k := range []string{"VAULT_ADDR", "NOMAD_ADDR", "CONSUL_HTTP_ADDR", "HTTP_PROXY", "HTTPS_PROXY"} {
		t.Setenv(k, addr) // the vault client library reads the process's environment
	}
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("s.star", `
addr = var("addr", "")
vault.policy("p", {"secret/x": ["read"]})
consul.kv_put("k", "v")
consul.srv("web")
nomad.status("web")
http.get(addr + "/names")
`)
	write("s_test.star", `
def test_offline():
    for r in [plan("s.star", vars = {"addr": "`+addr+`"}), apply("s.star", vars = {"addr": "`+addr+`"})]:
        print(r.error, r.warnings)
`)
	r := nvrun(t, nil, nil, "test", "-v", dir)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the listener at %s got %d connection(s); nvrun test must dial nothing\n%s", addr, n, r.stdout)
	}
	for _, want := range []string{"vault is not described by the test's state", "nomad is not described by the test's state",
		"consul is not described by the test's state", "http is not described by the test's state", "apply() reached "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}
