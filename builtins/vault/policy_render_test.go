package vault

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// Whatever a path holds (quotes, backslashes, template introducers, non-ASCII), the HCL
// that hclwrite renders parses back, with Vault's own parser, to the same paths and
// capabilities.
func TestRenderPolicyRoundTrips(t *testing.T) {
	cases := []struct {
		src  string
		want map[string]string // path -> capabilities as parsed back
	}{
		{`{"secret/a": ["read", "list"]}`, map[string]string{"secret/a": "[read list]"}},
		{`{"secret/+/x*": ["sudo", "read"], "d": ["deny"]}`, map[string]string{"secret/+/x*": "[read sudo]", "d": "[deny]"}},
		{`{"empty": []}`, map[string]string{"empty": "[]"}},
		{`{"tuple": ("read",)}`, map[string]string{"tuple": "[read]"}},
		{`{"quote\"d": ["read"]}`, map[string]string{`quote"d`: "[read]"}},
		{`{"back\\slash": ["read"]}`, map[string]string{`back\slash`: "[read]"}},
		{`{"uni/é": ["read"]}`, map[string]string{"uni/é": "[read]"}},
		{`{"/lead": ["read"], "lead": ["update"]}`, map[string]string{"lead": "[read update]"}},
		{`{"params": {"capabilities": ["read"], "allowed_parameters": {"ttl": []}}}`, map[string]string{"params": "[read]"}},
	}
	for _, c := range cases {
		v, err := starlark.Eval(&starlark.Thread{}, "rules", c.src, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		text, err := renderPolicy(v.(*starlark.Dict))
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		parsed, err := parsePolicy(text)
		if err != nil {
			t.Fatalf("%s: rendered HCL does not parse: %v\n%s", c.src, err, text)
		}
		if len(parsed.paths) != len(c.want) {
			t.Errorf("%s: parsed %d paths, want %d\n%s", c.src, len(parsed.paths), len(c.want), text)
		}
		for p, caps := range c.want {
			r, ok := parsed.paths[p]
			if !ok || "["+strings.Join(r.caps, " ")+"]" != caps {
				t.Errorf("%s: path %q parsed as %v, want %s\n%s", c.src, p, r, caps, text)
			}
		}
	}
	for src, want := range map[string]string{
		`{"secret/x": ["wrte"]}`:   `"wrte"`,
		`{"tmpl/${x}": ["read"]}`:  "pass this policy as an HCL string",
		`{"tmpl/%{if}": ["read"]}`: "pass this policy as an HCL string",
	} {
		v, _ := starlark.Eval(&starlark.Thread{}, "rules", src, nil)
		if _, err := renderPolicy(v.(*starlark.Dict)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: rendered, or the error does not say %q: %v", src, want, err)
		}
	}
}
