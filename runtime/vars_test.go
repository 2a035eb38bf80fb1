package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

func TestVarTyping(t *testing.T) {
	decl := `
s = var("s", "dflt", doc = "a string")
i = var("i", 1)
b = var("b", False)
f = var("f", 1.5)
l = var("l", ["a"])
d = var("d", {"k": 1})
n = var("n")
print(repr(s), repr(i), repr(b), repr(f), repr(l), repr(d), repr(n))
`
	cases := []struct {
		name    string
		vars    []string
		env     []string
		file    string // var-file contents
		want    string // printed repr line, or
		wantErr string // error substring
	}{
		{name: "defaults", want: `"dflt" 1 False 1.5 ["a"] {"k": 1} None`},
		{name: "flags", vars: []string{"s=x", "i=42", "b=true", "f=2", `l=["p","q"]`, `d={"z":true}`, "n=free"},
			want: `"x" 42 True 2.0 ["p", "q"] {"z": True} "free"`},
		{name: "env", env: []string{"NVRUN_VAR_i=7", "NVRUN_VAR_s=from-env"}, want: `"from-env" 7 False`},
		{name: "file", file: `{"i": 9, "l": ["x"], "f": 3}`, want: `"dflt" 9 False 3.0 ["x"]`},
		{name: "flag beats file beats env", env: []string{"NVRUN_VAR_i=1"}, file: `{"i": 2}`, vars: []string{"i=3"}, want: `"dflt" 3 `},
		{name: "last flag wins", vars: []string{"i=3", "i=4"}, want: `"dflt" 4 `},
		{name: "bad int", vars: []string{"i=four"}, wantErr: `var i (set by --var i): want an int, got "four"`},
		{name: "bad bool", vars: []string{"b=maybe"}, wantErr: "want true or false"},
		{name: "bad list", vars: []string{"l=a,b"}, wantErr: "want a JSON list"},
		{name: "list for dict", vars: []string{"d=[1]"}, wantErr: "want a dict, got a list"},
		{name: "file type mismatch", file: `{"i": "nine"}`, wantErr: "var i (set by --var-file"},
		{name: "undeclared with suggestion", vars: []string{"ii=1"}, wantErr: `--var: "ii" is not declared by the script; did you mean "i"?`},
		{name: "undeclared far from all", vars: []string{"completely_other=1"}, wantErr: `"completely_other" is not declared by the script; see nvrun --vars`},
		{name: "undeclared in file", file: `{"ss": "x"}`, wantErr: `is not declared by the script; did you mean "s"?`},
		{name: "undeclared env is ignored", env: []string{"NVRUN_VAR_zzz=1"}, want: `"dflt" 1`},
		{name: "no equals", vars: []string{"s=x", "s"}, wantErr: `--var: the 2nd --var is not NAME=VALUE`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"main.star": decl}
			if c.file != "" {
				files["vars.json"] = c.file
			}
			script := runtimetest.Script(t, files)
			o := runtimetest.ExecOptions{Mode: runtime.Plan, Vars: c.vars, Environ: c.env}
			if c.file != "" {
				o.VarFiles = []string{filepath.Join(filepath.Dir(script), "vars.json")}
			}
			r := exec(t, runtimetest.NewServer(), script, o)
			if c.wantErr != "" {
				if r.Err == nil || !strings.Contains(r.ErrMsg, c.wantErr) {
					t.Fatalf("err = %q, want %q", r.ErrMsg, c.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !strings.Contains(r.Out, c.want) {
				t.Fatalf("printed %q, want it to contain %q", r.Out, c.want)
			}
		})
	}
}

func TestVarDeclarationErrors(t *testing.T) {
	cases := map[string]string{
		"duplicate":   "var('a', 1)\nvar('a', 2)\n",
		"bad name":    "var('a-b', 1)\n",
		"bad default": "var('a', struct(x = 1))\n",
		"no name":     "var()\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			r := exec(t, runtimetest.NewServer(), runtimetest.Script(t, map[string]string{"main.star": src}), runtimetest.ExecOptions{Mode: runtime.Plan})
			if r.Err == nil || !strings.Contains(r.ErrMsg, "main.star:") || !strings.Contains(r.ErrMsg, "var") {
				t.Fatalf("err = %q", r.ErrMsg)
			}
		})
	}
}

func TestVarsListed(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": "var('b', 1, doc = 'the b')\nvar('a', 'x')\nvar('pw', 'hunter22', sensitive = True)\n"})
	r := exec(t, runtimetest.NewServer(), script, runtimetest.ExecOptions{Mode: runtime.Plan, Offline: true})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	got := r.Res.Vars
	if len(got) != 3 || got[0].Name != "b" || got[0].Doc != "the b" || got[1].Name != "a" || got[2].Default != runtime.Redacted {
		t.Fatalf("vars = %+v", got)
	}
	if _, err := os.Stat(script); err != nil {
		t.Fatal(err)
	}
}

// TestSensitiveVarsNeverPrinted: a sensitive var's value, in whatever type, set however,
// and even when it is mistyped or given without its name, appears in no output.
func TestSensitiveVarsNeverPrinted(t *testing.T) {
	const canary = "Zq7-sens1tive-canary"
	decl := `
pw = var("pw", "dflt-pw-0000", sensitive = True)
n = var("n", 1, sensitive = True)
l = var("l", ["dflt-list-0000"], sensitive = True)
d = var("d", {"user": "dflt-dict-0000"}, sensitive = True)
print("values:", pw, l, d, repr(l), str(d), d.get("user"), l[0])
print("json:", json.encode(struct(l = [str(x) for x in l])))
fail("see " + str(l) + " and " + str(d))
`
	cases := []struct {
		name    string
		vars    []string
		env     []string
		file    string
		wantErr string // besides the canary never showing
	}{
		{name: "list by flag", vars: []string{`l=["` + canary + `"]`}, wantErr: "values: (sensitive) [(sensitive)]"},
		{name: "dict by flag", vars: []string{`d={"user":"` + canary + `"}`}, wantErr: `{"user": (sensitive)}`},
		{name: "nested by file", file: `{"d": {"a": ["` + canary + `", {"b": "` + canary + `"}]}}`, wantErr: `{"a": [(sensitive), {"b": (sensitive)}]}`},
		{name: "list by env", env: []string{`NVRUN_VAR_l=["` + canary + `"]`}, wantErr: "see [(sensitive)]"},
		{name: "defaults are secrets too", wantErr: `see [(sensitive)] and {"user": (sensitive)}`},
		{name: "mistyped int", vars: []string{"n=" + canary}, wantErr: "var n (set by --var n): want an int; the value is not shown"},
		{name: "mistyped int by env", env: []string{"NVRUN_VAR_n=" + canary}, wantErr: "the value is not shown"},
		{name: "mistyped list", vars: []string{"l=" + canary}, wantErr: "want a list; the value is not shown"},
		{name: "list for dict", vars: []string{`d=["` + canary + `"]`}, wantErr: "want a dict; the value is not shown"},
		{name: "mistyped in file", file: `{"l": "` + canary + `"}`, wantErr: "want a list; the value is not shown"},
		{name: "value without name", vars: []string{canary}, wantErr: "the 1st --var is not NAME=VALUE"},
		{name: "value with empty name", vars: []string{"=" + canary}, wantErr: "the 1st --var is not NAME=VALUE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"main.star": decl}
			if c.file != "" {
				files["vars.json"] = c.file
			}
			script := runtimetest.Script(t, files)
			o := runtimetest.ExecOptions{Mode: runtime.Plan, Vars: c.vars, Environ: c.env}
			if c.file != "" {
				o.VarFiles = []string{filepath.Join(filepath.Dir(script), "vars.json")}
			}
			r := exec(t, runtimetest.NewServer(), script, o)
			if r.Err == nil {
				t.Fatal("the script ends in fail(); the run must fail")
			}
			// The raw error too: the CLI redacts it, but it must not rely on that here.
			all := r.All() + r.Err.Error()
			if strings.Contains(all, canary) || strings.Contains(all, "dflt-") {
				t.Fatalf("a sensitive value leaked:\n%s", all)
			}
			if !strings.Contains(r.Out+r.ErrMsg, c.wantErr) {
				t.Fatalf("output lacks %q:\n%s%s", c.wantErr, r.Out, r.ErrMsg)
			}
		})
	}
}

// An NVRUN_VAR_<name> for a var the script does not declare is a warning naming the
// closest declared var (the environment may be shared, so not an error).
func TestUndeclaredEnvVarWarns(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": "var('db_password', 'x', sensitive = True)\nvar('token_role', 'r')\n"})
	cases := []struct {
		env  []string
		want []string
	}{
		{[]string{"NVRUN_VAR_db_pasword=x"}, []string{`NVRUN_VAR_db_pasword is set, but the script declares no var "db_pasword", so it is ignored; did you mean NVRUN_VAR_db_password?`}},
		{[]string{"NVRUN_VAR_unrelated_thing=1", "NVRUN_VAR_token_role=r2"}, []string{`NVRUN_VAR_unrelated_thing is set, but the script declares no var "unrelated_thing", so it is ignored`}},
		{[]string{"NVRUN_VAR_token_role=r2"}, nil},
	}
	for _, c := range cases {
		for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
			r := exec(t, runtimetest.NewServer(), script, runtimetest.ExecOptions{Mode: mode, Environ: c.env}).MustOK(t)
			if fmt.Sprint(r.Res.Warnings) != fmt.Sprint(c.want) {
				t.Errorf("%v, %s: warnings %q, want %q", c.env, mode, r.Res.Warnings, c.want)
			}
			if len(c.want) > 0 && !strings.Contains(r.Plan+r.Out, c.want[0]) {
				t.Errorf("%v, %s: the warning is not shown:\n%s%s", c.env, mode, r.Out, r.Plan)
			}
		}
	}
}
