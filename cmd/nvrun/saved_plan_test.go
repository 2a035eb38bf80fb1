package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// storeRun runs nvrun with the runtimetest store module over s.
func storeRun(t *testing.T, s *runtimetest.Store, args ...string) cli {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"--lock", "none"}, args...), []string{}, &out, &errb, []runtime.Module{runtimetest.StoreModule(s)})
	return cli{code: code, stdout: out.String(), stderr: errb.String()}
}

const savedPlanScript = `
load("lib.star", "key")
v = var("v", "one")
pw = var("pw", "", sensitive=True)
store.put(key, v)
store.put("p", pw)
`

// --plan --out, then --apply-plan: applied when nothing moved; refused with 0 writes
// when a fingerprint, a var, a sensitive var or the script moved in between.
func TestApplyPlan(t *testing.T) {
	cases := []struct {
		name      string
		between   func(t *testing.T, s *runtimetest.Store, script string)
		applyVars []string
		want      string // "" means applied
	}{
		{name: "unchanged is applied", applyVars: []string{"--var", "pw=CANARY-pw-91c2"}},
		{name: "fingerprint moved", applyVars: []string{"--var", "pw=CANARY-pw-91c2"},
			between: func(t *testing.T, s *runtimetest.Store, _ string) {
				other := writeScript(t, `store.put("a", "someone else")`)
				if r := storeRun(t, s, other); r.code != 0 {
					t.Fatalf("colleague's apply: %d %s", r.code, r.stderr)
				}
			},
			want: `plan is stale: store "a" changed since the plan (`},
		{name: "var changed", applyVars: []string{"--var", "v=two", "--var", "pw=CANARY-pw-91c2"},
			want: "plan is stale: var v changed since the plan"},
		{name: "sensitive var changed", applyVars: []string{"--var", "pw=CANARY-pw-other"},
			want: "plan is stale: sensitive var pw changed since the plan, or was not given again"},
		{name: "sensitive var not given again",
			want: "plan is stale: sensitive var pw changed since the plan, or was not given again"},
		{name: "script changed", applyVars: []string{"--var", "pw=CANARY-pw-91c2"},
			between: func(t *testing.T, _ *runtimetest.Store, script string) {
				if err := os.WriteFile(script, []byte(savedPlanScript+"store.put(\"b\", \"x\")\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: "plan is stale: script "},
		{name: "loaded file changed", applyVars: []string{"--var", "pw=CANARY-pw-91c2"},
			between: func(t *testing.T, _ *runtimetest.Store, script string) {
				if err := os.WriteFile(filepath.Join(filepath.Dir(script), "lib.star"), []byte(`key = "b"`), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: "plan is stale: loaded file lib.star changed since the plan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := runtimetest.NewStore(true)
			script := writeScript(t, savedPlanScript)
			if err := os.WriteFile(filepath.Join(filepath.Dir(script), "lib.star"), []byte(`key = "a"`), 0o644); err != nil {
				t.Fatal(err)
			}
			planFile := filepath.Join(t.TempDir(), "guide.plan")
			r := storeRun(t, s, "--plan", "--out", planFile, "--var", "pw=CANARY-pw-91c2", script)
			if r.code != 0 {
				t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Saved the plan to "+planFile) {
				t.Fatalf("plan output does not name the plan file:\n%s", r.stdout)
			}
			checkPlanFile(t, planFile, []string{"CANARY-pw-91c2"}, `store "a"`, `store "p"`)
			if s.Writes != 0 {
				t.Fatalf("plan wrote %d times", s.Writes)
			}
			if c.between != nil {
				c.between(t, s, script)
			}
			before := s.Writes
			r = storeRun(t, s, append(c.applyVars, "--apply-plan", planFile)...)
			if c.want == "" {
				if r.code != 0 || s.Writes-before != 2 {
					t.Fatalf("apply-plan: exit %d, %d writes, want 0 and 2: %s", r.code, s.Writes-before, r.stderr)
				}
				return
			}
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, planFile+", ") {
				t.Fatalf("apply-plan: exit %d, stderr %q; want exit 1 and %q naming the plan file", r.code, r.stderr, c.want)
			}
			if n := s.Writes - before; n != 0 {
				t.Fatalf("refused apply-plan wrote %d times, want 0", n)
			}
			if strings.Contains(r.stdout+r.stderr, "CANARY-pw") {
				t.Fatalf("a sensitive var leaked:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// checkPlanFile checks the plan file is 0600, holds none of secrets, has var digests, and
// that every record whose address starts with one of fingerprinted (at least one each)
// carries the fingerprint of what its read saw.
func checkPlanFile(t *testing.T, path string, secrets []string, fingerprinted ...string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("plan file mode %04o, want 0600", st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("the plan file holds a secret (%d chars)", len(s))
		}
	}
	var doc struct {
		Records []struct{ Address, Action, Fingerprint string }
		Vars    map[string]string `json:"var_sha256"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vars) == 0 {
		t.Fatalf("plan file has no var digests:\n%s", b)
	}
	for _, prefix := range fingerprinted {
		n := 0
		for _, r := range doc.Records {
			if strings.HasPrefix(r.Address, prefix) {
				n++
				if r.Fingerprint == "" {
					t.Fatalf("record %s has no fingerprint:\n%s", r.Address, b)
				}
			}
		}
		if n == 0 {
			t.Fatalf("plan file has no record %s…:\n%s", prefix, b)
		}
	}
}

// Bad plan files and bad flag combinations: a clear error, exit 1 (flags: the usage
// exit), and nothing written.
func TestApplyPlanBadInput(t *testing.T) {
	s := runtimetest.NewStore(true)
	script := writeScript(t, `store.put("a", "1")`)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.plan")
	if r := storeRun(t, s, "--plan", "--out", good, script); r.code != 0 {
		t.Fatalf("plan: %d %s", r.code, r.stderr)
	}
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := writeScript(t, `store.put("a", "2")`)
	otherPlan := filepath.Join(dir, "other.plan")
	if r := storeRun(t, s, "--plan", "--out", otherPlan, other); r.code != 0 {
		t.Fatalf("plan: %d %s", r.code, r.stderr)
	}
	// another script's plan, with its script swapped for ours: the digest does not match
	swapped := bytes.Replace(content, []byte(`"`+script+`"`), []byte(`"`+other+`"`), 1)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"truncated", []string{"--apply-plan", variant("trunc.plan", content[:len(content)/2], 0o600)}, 1, "truncated or not a plan file"},
		{"tampered", []string{"--apply-plan", variant("tamper.plan", bytes.Replace(content, []byte(`"create"`), []byte(`"update"`), 1), 0o600)}, 1, "integrity check failed"},
		{"script swapped", []string{"--apply-plan", variant("swap.plan", swapped, 0o600)}, 1, "integrity check failed"},
		{"other script changed", []string{"--apply-plan", otherPlan}, 0, ""},
		{"not 0600", []string{"--apply-plan", variant("open.plan", content, 0o644)}, 1, "mode 0644, want 0600"},
		{"missing", []string{"--apply-plan", filepath.Join(dir, "nope.plan")}, 1, "no such file"},
		{"with SCRIPT", []string{"--apply-plan", good, script}, 2, "--apply-plan takes no SCRIPT argument"},
		{"with --plan", []string{"--plan", "--apply-plan", good}, 2, "cannot be used with --plan"},
		{"--out without --plan", []string{"--out", filepath.Join(dir, "x.plan"), script}, 2, "use it with --plan"},
		{"--out with --offline", []string{"--offline", "--out", filepath.Join(dir, "x.plan"), script}, 2, "use it with --plan (not --offline)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "other script changed" {
				// a plan from another script is checked against that script's digest
				if err := os.WriteFile(other, []byte(`store.put("a", "3")`), 0o644); err != nil {
					t.Fatal(err)
				}
				c.code, c.want = 1, "plan is stale: script "+other+" changed since the plan"
			}
			before := s.Writes
			r := storeRun(t, s, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, c.code, c.want)
			}
			if s.Writes != before {
				t.Fatalf("%d writes, want 0", s.Writes-before)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.plan")); err == nil {
		t.Fatal("a refused --out wrote its file")
	}
}
