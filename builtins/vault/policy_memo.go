package vault

import (
	"strconv"
	"strings"
	"sync"

	"go.starlark.net/starlark"
)

// Rendering a policy dict with hclwrite and parsing policy text with HCL 1 are pure
// functions, and the costliest CPU of a vault.policy: an apply does both twice for every
// policy (its offline preflight, then the run), and a live plan parses the live text,
// which is the desired text again when nothing changed. They are memoised for the
// process: same input, the same result, computed once. Only successes are kept (an error
// is computed again and names its call's position).
//
// The memo is bounded: when it holds maxMemo entries it starts afresh, so a huge script
// costs at worst what it cost without it.
const maxMemo = 1 << 14

type memo[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func (c *memo[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *memo[V]) put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxMemo {
		c.m = map[string]V{}
	}
	c.m[key] = v
}

var (
	renderMemo memo[string]
	parseMemo  memo[*policyRules] // never modified once parsed (diffPolicy and the ACL only read it)
)

// renderPolicyMemo is renderPolicy, memoised on an exact encoding of the dict.
func renderPolicyMemo(d *starlark.Dict) (string, error) {
	key, ok := rulesKey(nil, d)
	if !ok {
		return renderPolicy(d)
	}
	if text, ok := renderMemo.get(string(key)); ok {
		return text, nil
	}
	text, err := renderPolicy(d)
	if err == nil {
		renderMemo.put(string(key), text)
	}
	return text, err
}

// parsePolicyMemo is parsePolicy, memoised on the text. The result is shared: read it,
// never change it.
func parsePolicyMemo(text string) (*policyRules, error) {
	if rules, ok := parseMemo.get(text); ok {
		return rules, nil
	}
	if rules, ok := parsePlainPolicy(text); ok {
		return rules, nil // cheap enough not to memoise
	}
	rules, err := parsePolicy(text)
	if err == nil {
		parseMemo.put(text, rules)
	}
	return rules, err
}

// rulesKey appends an encoding of v that two values share only if they are equal and of
// the same types, element by element: a type tag, and a length before every string and
// container. It says false for a value of any other type (a float, a secret, an unknown:
// their text is not their identity), which is then not memoised.
func rulesKey(b []byte, v starlark.Value) ([]byte, bool) {
	switch v := v.(type) {
	case starlark.String:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		return append(b, v...), true
	case starlark.Int:
		b = append(b, 'i')
		b = append(b, v.String()...)
		return append(b, ';'), true
	case starlark.Bool:
		if v {
			return append(b, 'T'), true
		}
		return append(b, 'F'), true
	case starlark.NoneType:
		return append(b, 'N'), true
	case *starlark.List:
		return seqKey(append(b, 'l'), v.Len(), v.Index)
	case starlark.Tuple:
		return seqKey(append(b, 't'), v.Len(), v.Index)
	case *starlark.Dict:
		b = append(b, 'd')
		b = strconv.AppendInt(b, int64(v.Len()), 10)
		b = append(b, ':')
		for _, item := range v.Items() {
			var ok bool
			if b, ok = rulesKey(b, item[0]); !ok {
				return nil, false
			}
			if b, ok = rulesKey(b, item[1]); !ok {
				return nil, false
			}
		}
		return b, true
	}
	return nil, false
}

func seqKey(b []byte, n int, index func(int) starlark.Value) ([]byte, bool) {
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ':')
	for i := range n {
		var ok bool
		if b, ok = rulesKey(b, index(i)); !ok {
			return nil, false
		}
	}
	return b, true
}

// rulesOfDict is parsePolicy(renderPolicy(d)) without rendering or parsing, for the
// common dict: every path plain printable ASCII (no quote, backslash or template
// sequence, which rendering escapes or refuses), every value a list of valid
// capabilities (or a dict of "capabilities" alone). It says false for anything else,
// which then takes the rendering and parsing road, errors included.
// TestRulesOfDictIsRenderThenParse holds it to that equality.
func rulesOfDict(d *starlark.Dict) (*policyRules, bool) {
	rules := &policyRules{paths: make(map[string]*pathRule, d.Len())}
	for _, item := range d.Items() {
		path, ok := item[0].(starlark.String)
		if !ok || !plainPath(string(path)) {
			return nil, false
		}
		caps, extra, err := pathSpec(string(path), item[1])
		if err != nil || len(extra) > 0 {
			return nil, false
		}
		for _, c := range caps {
			if _, ok := capabilityRank[c]; !ok {
				return nil, false
			}
		}
		p := strings.TrimPrefix(string(path), "/")
		rule := &pathRule{caps: normaliseCaps(caps)}
		if prev, dup := rules.paths[p]; dup {
			prev.caps = normaliseCaps(append(prev.caps, rule.caps...)) // as parsePolicy merges
			continue
		}
		rules.order = append(rules.order, p)
		rules.paths[p] = rule
	}
	return rules, true
}

// plainPath says whether HCL renders path as itself between quotes, and HCL 1 reads it
// back as itself.
func plainPath(path string) bool {
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return !strings.Contains(path, "${") && !strings.Contains(path, "%{")
}

// parsePlainPolicy reads the one shape renderPolicy gives a plain dict (and so the text
// Vault hands back for it), with nothing else allowed, not even a space:
//
//	path "PATH" {
//	  capabilities = ["read", "list"]
//	}
//
// blocks separated by one empty line, PATH plain (see plainPath). It answers what
// parsePolicy answers for such text and says false for any other text, which parsePolicy
// then reads. Reading a live policy this way costs a tenth of HCL 1's parse, a large part
// of a live plan of many policies. TestParsePlainPolicyIsParsePolicy holds it to that.
func parsePlainPolicy(text string) (*policyRules, bool) {
	const (
		open    = "path \""
		mid     = "\" {\n  capabilities = ["
		closing = "]\n}\n"
	)
	rules := &policyRules{paths: map[string]*pathRule{}}
	for s := text; s != ""; {
		if len(rules.order) > 0 || len(rules.paths) > 0 {
			if s[0] != '\n' {
				return nil, false
			}
			s = s[1:]
		}
		if !strings.HasPrefix(s, open) {
			return nil, false
		}
		s = s[len(open):]
		end := strings.IndexByte(s, '"')
		if end < 0 || !plainPath(s[:end]) || !strings.HasPrefix(s[end:], mid) {
			return nil, false
		}
		p := strings.TrimPrefix(s[:end], "/")
		s = s[end+len(mid):]
		end = strings.IndexByte(s, ']')
		if end < 0 || !strings.HasPrefix(s[end:], closing) {
			return nil, false
		}
		list := s[:end]
		s = s[end+len(closing):]
		var caps []string
		for i := 0; list != ""; i++ {
			if i > 0 {
				if !strings.HasPrefix(list, ", ") {
					return nil, false
				}
				list = list[2:]
			}
			if len(list) < 2 || list[0] != '"' {
				return nil, false
			}
			q := strings.IndexByte(list[1:], '"')
			if q < 0 {
				return nil, false
			}
			c := list[1 : 1+q]
			if _, ok := capabilityRank[c]; !ok {
				return nil, false // parsePolicy words the error
			}
			caps = append(caps, c)
			list = list[q+2:]
		}
		rule := &pathRule{caps: normaliseCaps(caps)}
		if prev, dup := rules.paths[p]; dup {
			prev.caps = normaliseCaps(append(prev.caps, rule.caps...))
			continue
		}
		rules.order = append(rules.order, p)
		rules.paths[p] = rule
	}
	return rules, true
}
