package vault

import (
	"strconv"
	"sync"

	"go.starlark.net/starlark"
)

// Rendering a policy dict with hclwrite and parsing policy text with HCL 1 are pure
// functions, and the costliest CPU of a vault.policy whose rules are not plain
// (policy_plain.go): an apply would do both twice for such a policy (its offline
// preflight, then the run), and a live plan parses the live text, which is the desired
// text again when nothing changed. They are memoised for the process: same input, the
// same result, computed once. Only successes are kept (an error is computed again and
// names its call's position).
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
