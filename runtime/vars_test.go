package runtime_test

import (
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
		{name: "no equals", vars: []string{"s"}, wantErr: `--var: "s" is not NAME=VALUE`},
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
