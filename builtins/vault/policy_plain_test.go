package vault

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

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
