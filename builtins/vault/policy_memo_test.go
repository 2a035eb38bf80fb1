package vault

import (
	"testing"

	"go.starlark.net/starlark"
)

func evalRules(t *testing.T, src string) *starlark.Dict {
	t.Helper()
	v, err := starlark.Eval(&starlark.Thread{}, "rules", src, nil)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v.(*starlark.Dict)
}

// Values that render differently never share a memo key: each pair here differs in one
// element's value or type, and so must their keys.
func TestRulesKeyDistinguishes(t *testing.T) {
	pairs := [][2]string{
		{`{"a": ["read"]}`, `{"a": ["list"]}`},
		{`{"a": ["read"]}`, `{"b": ["read"]}`},
		{`{"a": ["read"]}`, `{"a": ("read",)}`},
		{`{"a": ["read", "list"]}`, `{"a": ["readlist"]}`},
		{`{"a": ["read"], "b": ["list"]}`, `{"b": ["list"], "a": ["read"]}`}, // order is rendered
		{`{"ab": ["read"]}`, `{"a": ["bread"]}`},
		{`{"a": {"capabilities": ["read"], "allowed_parameters": {"x": []}}}`, `{"a": {"capabilities": ["read"], "allowed_parameters": {"x": [""]}}}`},
		{`{"a": {"capabilities": ["read"], "max_wrapping_ttl": 1}}`, `{"a": {"capabilities": ["read"], "max_wrapping_ttl": "1"}}`},
		{`{"a": {"capabilities": ["read"], "x": True}}`, `{"a": {"capabilities": ["read"], "x": "True"}}`},
		{`{"a": {"capabilities": ["read"], "x": None}}`, `{"a": {"capabilities": ["read"], "x": "None"}}`},
	}
	for _, p := range pairs {
		a, okA := rulesKey(nil, evalRules(t, p[0]))
		b, okB := rulesKey(nil, evalRules(t, p[1]))
		if !okA || !okB {
			t.Fatalf("%s / %s: not memoisable (%v, %v)", p[0], p[1], okA, okB)
		}
		if string(a) == string(b) {
			t.Errorf("%s and %s share the key %q", p[0], p[1], a)
		}
		if c, _ := rulesKey(nil, evalRules(t, p[0])); string(c) != string(a) {
			t.Errorf("%s: key not stable: %q then %q", p[0], a, c)
		}
	}
}

// A value whose text is not its identity (a float here) is rendered, not memoised.
func TestRulesKeyRefusesOtherTypes(t *testing.T) {
	for _, src := range []string{
		`{"a": {"capabilities": ["read"], "x": 1.5}}`,
		`{"a": {"capabilities": ["read"], "x": set(["y"])}}`,
	} {
		if _, ok := rulesKey(nil, evalRules(t, src)); ok {
			t.Errorf("%s: memoisable, want not", src)
		}
	}
}

// The memoised render and parse answer what the plain ones do, the first time and from
// the memo; an error is not memoised.
func TestPolicyMemoSameAsPlain(t *testing.T) {
	for _, src := range []string{
		`{"secret/a": ["read", "list"], "b": ["deny"]}`,
		`{"params": {"capabilities": ["read"], "allowed_parameters": {"ttl": []}}}`,
		`{"f": {"capabilities": ["read"], "max_wrapping_ttl": 1.5}}`,
	} {
		d := evalRules(t, src)
		want, err := renderPolicy(d)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for i := range 2 {
			got, err := renderPolicyMemo(d)
			if err != nil || got != want {
				t.Fatalf("%s: memo %d: %q, %v; want %q", src, i, got, err, want)
			}
			rules, err := parsePolicyMemo(got)
			if err != nil {
				t.Fatalf("%s: parse %d: %v", src, i, err)
			}
			plain, _ := parsePolicy(got)
			if len(diffPolicy(plain, rules)) != 0 || len(diffPolicy(rules, plain)) != 0 || len(rules.order) != len(plain.order) {
				t.Errorf("%s: memoised parse differs from the plain one", src)
			}
		}
	}
	bad := evalRules(t, `{"a": ["reed"]}`)
	for range 2 {
		if _, err := renderPolicyMemo(bad); err == nil {
			t.Fatal("an invalid capability rendered")
		}
	}
	for range 2 {
		if _, err := parsePolicyMemo(`path "a" { capabilities = [`); err == nil {
			t.Fatal("bad HCL parsed")
		}
	}
}
