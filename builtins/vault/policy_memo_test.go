package vault

import (
	"fmt"
	"math/rand/v2"
	"strings"
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

// rulesOfDict is render-then-parse without either: for every dict it accepts, hand-picked
// and random (paths of printable ASCII, any capabilities, repeated and leading-slash
// paths), it gives exactly the paths, order, capabilities and parameters that parsing
// the rendered HCL gives; and it refuses what it cannot answer that way.
func TestRulesOfDictIsRenderThenParse(t *testing.T) {
	accepted := []string{
		`{}`,
		`{"secret/a": ["read", "list"]}`,
		`{"a": [], "b": ["deny", "read"], "c": ("read", "read"), "d": {"capabilities": ["list"]}}`,
		`{"/lead": ["read"], "lead": ["update"], "x/+/y*": ["sudo", "create"]}`,
		`{" sp ace ": ["read"], "": ["list"], "#//": ["read"], "$x%y{}": ["read"]}`,
	}
	refused := []string{
		`{"quote\"d": ["read"]}`,
		`{"back\\slash": ["read"]}`,
		`{"uni/é": ["read"]}`,
		`{"tab\t": ["read"]}`,
		`{"a/${x}": ["read"]}`,
		`{"a": ["reed"]}`,
		`{"a": {"capabilities": ["read"], "allowed_parameters": {"ttl": []}}}`,
		`{1: ["read"]}`,
		`{"a": "read"}`,
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		var b strings.Builder
		b.WriteString("{")
		for i := range 1 + r.IntN(6) {
			path := []byte(fmt.Sprint(i)) // no key twice in the literal
			if r.IntN(4) == 0 {
				path = append([]byte{'/'}, path...)
			}
			for range r.IntN(10) {
				c := byte(0x20 + r.IntN(0x7f-0x20))
				if c == '"' || c == '\\' {
					c = '/'
				}
				path = append(path, c)
			}
			fmt.Fprintf(&b, "%q: [", strings.ReplaceAll(strings.ReplaceAll(string(path), "${", "$"), "%{", "%"))
			for range r.IntN(4) {
				fmt.Fprintf(&b, "%q, ", capabilityOrder[r.IntN(len(capabilityOrder))])
			}
			b.WriteString("], ")
		}
		b.WriteString("}")
		accepted = append(accepted, b.String())
	}
	show := func(p *policyRules) string {
		var b strings.Builder
		for _, path := range p.order {
			fmt.Fprintf(&b, "%q %v %q; ", path, p.paths[path].caps, p.paths[path].extra)
		}
		return fmt.Sprintf("%d paths: %s", len(p.paths), b.String())
	}
	for _, src := range accepted {
		d := evalRules(t, src)
		got, ok := rulesOfDict(d)
		if !ok {
			t.Errorf("%s: refused", src)
			continue
		}
		text, err := renderPolicy(d)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		want, err := parsePolicy(text)
		if err != nil {
			t.Fatalf("%s: %v\n%s", src, err, text)
		}
		if show(got) != show(want) {
			t.Errorf("%s:\n got %s\nwant %s", src, show(got), show(want))
		}
	}
	for _, src := range refused {
		if _, ok := rulesOfDict(evalRules(t, src)); ok {
			t.Errorf("%s: accepted, want refused", src)
		}
	}
}

// parsePlainPolicy answers exactly what parsePolicy answers, for every text it accepts:
// the rendering of random plain dicts (which it must accept) and those texts with a
// byte inserted, deleted or replaced (which it may refuse).
func TestParsePlainPolicyIsParsePolicy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	show := func(p *policyRules) string {
		var b strings.Builder
		for _, path := range p.order {
			fmt.Fprintf(&b, "%q %v %q; ", path, p.paths[path].caps, p.paths[path].extra)
		}
		return fmt.Sprintf("%d paths: %s", len(p.paths), b.String())
	}
	var texts []string
	for range 200 {
		var b strings.Builder
		b.WriteString("{")
		for i := range r.IntN(5) {
			path := fmt.Sprint(i)
			if r.IntN(4) == 0 {
				path = "/" + path
			}
			for range r.IntN(8) {
				path += string(rune("ab/*+-_.: #=[]{}$%,"[r.IntN(19)]))
			}
			path = strings.ReplaceAll(strings.ReplaceAll(path, "${", "$"), "%{", "%")
			fmt.Fprintf(&b, "%q: [", path)
			for range r.IntN(4) {
				fmt.Fprintf(&b, "%q, ", capabilityOrder[r.IntN(len(capabilityOrder))])
			}
			b.WriteString("], ")
		}
		b.WriteString("}")
		text, err := renderPolicy(evalRules(t, b.String()))
		if err != nil {
			t.Fatalf("%s: %v", b.String(), err)
		}
		texts = append(texts, text)
	}
	texts = append(texts, "", "path \"a\" {\n  capabilities = [\"read\"]\n}\n\npath \"/a\" {\n  capabilities = [\"list\", \"deny\"]\n}\n")
	for _, text := range texts {
		got, ok := parsePlainPolicy(text)
		if !ok {
			t.Errorf("%q: refused", text)
			continue
		}
		want, err := parsePolicy(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if show(got) != show(want) {
			t.Errorf("%q:\n got %s\nwant %s", text, show(got), show(want))
		}
	}
	accepted, refused := 0, 0
	mutations := "\"\\ \n\t{}[],=#/*ab$%"
	for _, text := range texts {
		for range 20 {
			if text == "" {
				break
			}
			b := []byte(text)
			i := r.IntN(len(b))
			switch c := mutations[r.IntN(len(mutations))]; r.IntN(3) {
			case 0:
				b = append(b[:i], append([]byte{c}, b[i:]...)...)
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b[i] = c
			}
			m := string(b)
			got, ok := parsePlainPolicy(m)
			if !ok {
				refused++
				continue
			}
			accepted++
			want, err := parsePolicy(m)
			if err != nil {
				t.Errorf("%q: accepted, but parsePolicy fails: %v", m, err)
				continue
			}
			if show(got) != show(want) {
				t.Errorf("%q:\n got %s\nwant %s", m, show(got), show(want))
			}
		}
	}
	if refused == 0 || accepted == 0 {
		t.Errorf("mutations: %d accepted, %d refused; the test exercises too little", accepted, refused)
	}
	for _, text := range []string{
		"path \"a\" {\n capabilities = [\"read\"]\n}\n",           // one space
		"path \"a\" {\n  capabilities = [\"reed\"]\n}\n",          // invalid: parsePolicy's error
		"path \"a\" {\n  capabilities = [\"read\"]\n}\n# c\n",     // a comment
		"path \"a\" {\n  capabilities = [\"read\",\"list\"]\n}\n", // no space
		"path \"é\" {\n  capabilities = [\"read\"]\n}\n",
	} {
		if _, ok := parsePlainPolicy(text); ok {
			t.Errorf("%q: accepted, want refused", text)
		}
	}
}
