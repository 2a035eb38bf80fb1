package vault

import (
	"fmt"
	"testing"

	"go.starlark.net/starlark"
)

// The direct renderer of plain policies must write exactly what hclwrite writes, so that
// the text sent to Vault does not depend on which path rendered it.
func TestRenderPlainPolicyMatchesHCLWrite(t *testing.T) {
	cases := []struct {
		src   string
		plain bool // whether the direct renderer takes it
	}{
		{`{"secret/a": ["read", "list"]}`, true},
		{`{"auth/token/create/nomad-cluster": ["update"], "auth/token/roles/nomad-cluster": ["read"], "sys/capabilities-self": ["update"]}`, true},
		{`{"secret/+/x*": ["create", "read", "update", "patch", "delete", "list", "sudo"], "d": ["deny"]}`, true},
		{`{"empty": []}`, true},
		{`{"secret/{{identity.entity.id}}/*": ["read"]}`, true},
		{`{"a b/c~d!@#$&*()=:;'<>,.?|^": ["read"]}`, true},
		{`{"/lead": ["read", "read", "list"], "lead": ["update"], "x": ["deny", "read"]}`, true},
		{`{"tuple": ("read",)}`, false},
		{`{"quote\"d": ["read"]}`, false},
		{`{"back\\slash": ["read"]}`, false},
		{`{"tmpl/${x}": ["read"]}`, false},
		{`{"pct/%{x}": ["read"]}`, false},
		{`{"uni/é": ["read"]}`, false},
		{`{"nl/\n": ["read"]}`, false},
		{`{"params": {"capabilities": ["read"], "allowed_parameters": {"ttl": []}}}`, false},
	}
	for _, c := range cases {
		v, err := starlark.Eval(&starlark.Thread{}, "rules", c.src, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		d := v.(*starlark.Dict)
		want, err := renderPolicyHCLWrite(d)
		if err != nil {
			t.Fatalf("%s: hclwrite: %v", c.src, err)
		}
		got, rules, ok := renderPlainPolicy(d)
		if ok != c.plain {
			t.Errorf("%s: direct renderer took it: %v, want %v", c.src, ok, c.plain)
		}
		if ok && got != want {
			t.Errorf("%s: direct renderer wrote\n%q\nhclwrite wrote\n%q", c.src, got, want)
		}
		if ok {
			parsed, err := parsePolicy(got)
			if err != nil {
				t.Fatalf("%s: %v", c.src, err)
			}
			if fmt.Sprint(rulesText(rules)) != fmt.Sprint(rulesText(parsed)) {
				t.Errorf("%s: direct renderer's rules %v, parsePolicy's %v", c.src, rulesText(rules), rulesText(parsed))
			}
		}
		if r, err := renderPolicy(d); err != nil || r != want {
			t.Errorf("%s: renderPolicy = %q, %v; want %q", c.src, r, err, want)
		}
	}
	// An invalid capability is left to the hclwrite path, whose error names it.
	v, _ := starlark.Eval(&starlark.Thread{}, "rules", `{"secret/x": ["wrte"]}`, nil)
	if _, _, ok := renderPlainPolicy(v.(*starlark.Dict)); ok {
		t.Error("the direct renderer accepted an invalid capability")
	}
	if _, err := renderPolicy(v.(*starlark.Dict)); err == nil {
		t.Error("an invalid capability rendered")
	}
}

// rulesText shows parsed rules in order, for comparing two parses.
func rulesText(r *policyRules) []string {
	var out []string
	for _, p := range r.order {
		out = append(out, fmt.Sprintf("%q %v %q", p, r.paths[p].caps, r.paths[p].extra))
	}
	return append(out, fmt.Sprint(len(r.paths)))
}
