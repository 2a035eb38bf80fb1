package vault

import (
	"sort"
	"strings"
)

// This file evaluates policies as Vault 1.14's ACL does (vault/acl.go), to answer "what
// may these policies do on this path" without asking Vault:
//
//   - the rules of all policies are merged per path pattern: capabilities are unioned,
//     and a deny anywhere leaves only deny;
//   - an exact pattern wins over any glob (for a list, "path/" also matches "path");
//   - otherwise the longest trailing-* prefix and the segment-wildcard (+) patterns
//     compete, ordered by: later first wildcard, then not-a-prefix over prefix, then
//     fewer + segments, then longer pattern; the highest wins;
//   - no match, or deny, is ["deny"].

// aclEntry is the merged rule for one pattern.
type aclEntry struct {
	caps      map[string]bool
	grantedBy map[string]map[string]bool // policy -> capabilities it contributed
}

type acl struct {
	root    bool
	exact   map[string]*aclEntry
	prefix  map[string]*aclEntry // pattern without its trailing *
	segment map[string]*aclEntry // patterns with + segments, as written
}

type namedPolicy struct {
	name  string
	rules *policyRules
}

func newACL(policies []namedPolicy) *acl {
	a := &acl{exact: map[string]*aclEntry{}, prefix: map[string]*aclEntry{}, segment: map[string]*aclEntry{}}
	for _, p := range policies {
		if p.name == "root" {
			a.root = true
			continue
		}
		if p.rules == nil {
			continue // a policy that does not exist grants nothing, as in Vault
		}
		for _, pattern := range p.rules.order {
			rule := p.rules.paths[pattern]
			tree, key := a.exact, pattern
			switch {
			case hasSegmentWildcard(pattern):
				tree = a.segment
			case strings.HasSuffix(pattern, "*"):
				tree, key = a.prefix, strings.TrimSuffix(pattern, "*")
			}
			e := tree[key]
			if e == nil {
				e = &aclEntry{caps: map[string]bool{}, grantedBy: map[string]map[string]bool{}}
				tree[key] = e
			}
			e.merge(p.name, rule.caps)
		}
	}
	return a
}

func (e *aclEntry) merge(policy string, caps []string) {
	if e.caps["deny"] {
		return
	}
	for _, c := range caps {
		if c == "deny" {
			e.caps = map[string]bool{"deny": true}
			e.grantedBy = map[string]map[string]bool{}
			return
		}
	}
	if e.grantedBy[policy] == nil {
		e.grantedBy[policy] = map[string]bool{}
	}
	for _, c := range caps {
		e.caps[c] = true
		e.grantedBy[policy][c] = true
	}
}

func hasSegmentWildcard(p string) bool {
	return p == "+" || strings.Contains(p, "/+") || strings.HasPrefix(p, "+/")
}

// capabilities returns the capabilities on path (Vault's order-independent set, sorted
// as plans show them) and the policies that grant "read" there.
func (a *acl) capabilities(path string) (caps []string, readBy []string) {
	if a.root {
		return []string{"root"}, []string{"root"}
	}
	path = strings.TrimLeft(path, "/")
	e := a.match(path)
	if e == nil || e.caps["deny"] || len(e.caps) == 0 {
		return []string{"deny"}, nil
	}
	for c := range e.caps {
		caps = append(caps, c)
	}
	for p, cs := range e.grantedBy {
		if cs["read"] {
			readBy = append(readBy, p)
		}
	}
	sort.Strings(readBy)
	return normaliseCaps(caps), readBy
}

func (a *acl) match(path string) *aclEntry {
	if e, ok := a.exact[path]; ok {
		return e
	}
	// Vault asks as a list operation, for which "path/" also matches a rule on "path".
	if e, ok := a.exact[strings.TrimSuffix(path, "/")]; ok {
		return e
	}

	type candidate struct {
		firstWC   int
		isPrefix  bool
		wildcards int
		pattern   string
		entry     *aclEntry
	}
	var cands []candidate
	longest := ""
	var longestEntry *aclEntry
	for p, e := range a.prefix {
		if strings.HasPrefix(path, p) && (longestEntry == nil || len(p) > len(longest)) {
			longest, longestEntry = p, e
		}
	}
	if longestEntry != nil {
		if len(a.segment) == 0 {
			return longestEntry
		}
		cands = append(cands, candidate{firstWC: len(longest), isPrefix: true, pattern: longest, entry: longestEntry})
	}

	parts := strings.Split(path, "/")
SEGMENT:
	for full, e := range a.segment {
		c := candidate{firstWC: strings.Index(full, "+"), entry: e}
		pattern := full
		if strings.HasSuffix(pattern, "*") {
			c.isPrefix = true
			pattern = strings.TrimSuffix(pattern, "*")
		}
		c.pattern = pattern
		segs := strings.Split(pattern, "/")
		if len(parts) < len(segs) || (!c.isPrefix && len(segs) != len(parts)) {
			continue
		}
		for i, seg := range segs {
			switch {
			case seg == "+":
				c.wildcards++
			case seg == parts[i]:
			case c.isPrefix && i == len(segs)-1 && strings.HasPrefix(parts[i], seg):
			default:
				continue SEGMENT
			}
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil
	}
	// Vault sorts by "less specific" and takes the last: the most specific.
	less := func(i, j candidate) bool {
		if i.firstWC != j.firstWC {
			return i.firstWC < j.firstWC
		}
		if i.isPrefix != j.isPrefix {
			return i.isPrefix
		}
		if i.wildcards != j.wildcards {
			return i.wildcards > j.wildcards
		}
		if len(i.pattern) != len(j.pattern) {
			return len(i.pattern) < len(j.pattern)
		}
		return i.pattern < j.pattern
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if less(best, c) {
			best = c
		}
	}
	return best.entry
}
