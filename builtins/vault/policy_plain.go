package vault

import (
	"strings"

	"go.starlark.net/starlark"
)

// The plain policy: the one shape a script's policy dict usually has (plain paths to
// lists of capabilities) and the one text nvrun renders for it. Both are read here
// without hclwrite or HCL 1, which were most of the CPU a policy cost; anything else
// takes the rendering and parsing road (policy_hcl.go).

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
