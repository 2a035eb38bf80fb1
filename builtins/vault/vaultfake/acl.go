package vaultfake

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	hcl "github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
)

// pathRule is one path block of a policy.
type pathRule struct {
	pattern string
	caps    []string
}

var validCaps = map[string]bool{"create": true, "read": true, "update": true, "delete": true, "list": true, "sudo": true, "deny": true, "patch": true}

// legacyPolicy maps the pre-0.5 `policy = "..."` of a path block to capabilities.
var legacyPolicy = map[string][]string{
	"deny": {"deny"}, "read": {"read", "list"}, "write": {"create", "read", "update", "delete", "list"},
	"sudo": {"create", "read", "update", "delete", "list", "sudo"},
}

var pathKeys = []string{"comment", "policy", "capabilities", "allowed_parameters", "denied_parameters",
	"required_parameters", "min_wrapping_ttl", "max_wrapping_ttl", "mfa_methods", "control_group", "subscribe_event_types"}

// parsePolicy parses a policy as Vault does (HCL 1), with Vault's error texts (the
// caller prefixes "failed to parse policy: ").
func parsePolicy(text string) ([]pathRule, error) {
	root, err := hcl.Parse(text)
	if err != nil {
		return nil, err
	}
	list, ok := root.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("does not contain a root object")
	}
	if err := checkKeys(list, []string{"name", "path"}); err != nil {
		return nil, err
	}
	var rules []pathRule
	for _, item := range list.Filter("path").Items {
		key := "path"
		if len(item.Keys) > 0 {
			key = item.Keys[0].Token.Value().(string)
		}
		if o, ok := item.Val.(*ast.ObjectType); ok {
			if err := checkKeys(o.List, pathKeys); err != nil {
				return nil, multierror.Prefix(err, fmt.Sprintf("path %q:", key))
			}
		}
		var block struct {
			Policy       string   `hcl:"policy"`
			Capabilities []string `hcl:"capabilities"`
		}
		if err := hcl.DecodeObject(&block, item.Val); err != nil {
			return nil, fmt.Errorf("path %q: %w", key, err)
		}
		caps := append([]string(nil), legacyPolicy[block.Policy]...)
		if block.Policy != "" && caps == nil {
			return nil, fmt.Errorf("path %q: invalid policy %q", key, block.Policy)
		}
		for _, c := range block.Capabilities {
			if !validCaps[c] {
				return nil, fmt.Errorf("path %q: invalid capability %q", key, c)
			}
			caps = append(caps, c)
		}
		rules = append(rules, pathRule{pattern: key, caps: caps})
	}
	return rules, nil
}

// checkKeys is Vault's check that an HCL object has only the keys it knows.
func checkKeys(list *ast.ObjectList, valid []string) error {
	var result error
	for _, item := range list.Items {
		key := item.Keys[0].Token.Value().(string)
		if !contains(valid, key) {
			result = multierror.Append(result, fmt.Errorf("invalid key %q on line %d", key, item.Assign.Line))
		}
	}
	return result
}

// acl is the merged rules of a token's policies: capabilities by path pattern.
type acl struct {
	root     bool
	patterns map[string]map[string]bool
}

func (f *Fake) aclFor(policies []string) *acl {
	a := &acl{patterns: map[string]map[string]bool{}}
	for _, name := range policies {
		if name == "root" {
			a.root = true
			continue
		}
		rules, _ := parsePolicy(f.policies[name])
		for _, r := range rules {
			set := a.patterns[r.pattern]
			if set == nil {
				set = map[string]bool{}
				a.patterns[r.pattern] = set
			}
			for _, c := range r.caps {
				set[c] = true
			}
		}
	}
	return a
}

// capabilities of path: the rule of the best matching pattern (Vault's priority), or
// deny.
func (a *acl) capabilities(path string) []string {
	if a.root {
		return []string{"root"}
	}
	var best string
	found := false
	for p := range a.patterns {
		if matches(p, path) && (!found || morePrecise(p, best)) {
			best, found = p, true
		}
	}
	if !found || a.patterns[best]["deny"] {
		return []string{"deny"}
	}
	var out []string
	for c := range a.patterns[best] {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// matches reports whether a policy path pattern (with a trailing "*" glob and "+"
// segment wildcards) matches path.
func matches(pattern, path string) bool {
	glob := strings.HasSuffix(pattern, "*")
	pattern = strings.TrimSuffix(pattern, "*")
	if !strings.Contains(pattern, "+") {
		if glob {
			return strings.HasPrefix(path, pattern)
		}
		return path == pattern
	}
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(xs) < len(ps) || (!glob && len(xs) != len(ps)) {
		return false
	}
	for i, seg := range ps {
		last := i == len(ps)-1
		switch {
		case seg == "+":
		case last && glob:
			return strings.HasPrefix(strings.Join(xs[i:], "/"), seg)
		case seg != xs[i]:
			return false
		}
	}
	return true
}

// morePrecise is Vault's priority between two patterns matching the same path: the
// first wildcard later, then no trailing glob, then fewer "+", then longer, then
// lexically larger.
func morePrecise(a, b string) bool {
	wa, wb := firstWildcard(a), firstWildcard(b)
	if wa != wb {
		return wa > wb
	}
	ga, gb := strings.HasSuffix(a, "*"), strings.HasSuffix(b, "*")
	if ga != gb {
		return !ga
	}
	pa, pb := strings.Count(a, "+"), strings.Count(b, "+")
	if pa != pb {
		return pa < pb
	}
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func firstWildcard(p string) int {
	i := strings.IndexAny(p, "+*")
	if i < 0 {
		return len(p) + 1
	}
	return i
}

// allowed checks a request against its token's policies: the capability the
// operation needs (create or update for a write), and sudo on root-protected paths.
func (f *Fake) allowed(t *token, req *request) bool {
	if t.root() {
		return true
	}
	caps := f.aclFor(t.Policies).capabilities(req.path)
	if rootProtected(req) && !contains(caps, "sudo") {
		return false
	}
	switch req.op {
	case "update":
		// As Vault: a write to a path with an existence check needs create if the
		// object is absent and update if it is there; other writes need update.
		if checked, exists := f.existence(req); checked && !exists {
			return contains(caps, "create")
		}
		return contains(caps, "update")
	default:
		return contains(caps, req.op)
	}
}

// rootProtected are the paths (of those the fake serves) that Vault also requires sudo
// for: enabling and disabling auth methods, revoking leases by prefix, listing token
// accessors, sealing.
func rootProtected(req *request) bool {
	p := req.path
	switch {
	case strings.HasPrefix(p, "sys/auth/") && !strings.HasSuffix(p, "/tune"):
		return req.op != "read"
	case strings.HasPrefix(p, "sys/leases/revoke-prefix/"), strings.HasPrefix(p, "sys/leases/revoke-force/"),
		strings.HasPrefix(p, "sys/revoke-prefix/"):
		return true
	}
	return p == "auth/token/accessors" || p == "sys/seal"
}

// existence is Vault's existence check of a write: whether the path has one (checked)
// and whether the object is there.
func (f *Fake) existence(req *request) (checked, exists bool) {
	p := req.path
	if name, ok := strings.CutPrefix(p, "auth/token/roles/"); ok {
		return true, f.tokenRoles[strings.ToLower(name)] != nil
	}
	if strings.HasPrefix(p, "sys/") || strings.HasPrefix(p, "auth/token/") {
		return false, false
	}
	mountPath, m := f.mountOf(p)
	if m == nil {
		return false, false
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(p+"/", mountPath), "/")
	kind, name, _ := strings.Cut(rest, "/")
	switch m.Type {
	case "kv":
		if m.Options["version"] != "2" {
			return true, f.data[mountPath+rest] != nil
		}
		if kind == "data" {
			return true, f.data[mountPath+"data/"+name] != nil
		}
	case "database":
		if (kind == "roles" || kind == "config") && name != "" {
			return true, f.data[mountPath+kind+"/"+name] != nil
		}
	case "jwt", "oidc":
		if kind == "role" && name != "" {
			return true, f.data[mountPath+"role/"+strings.ToLower(name)] != nil
		}
	default:
		return true, f.data[mountPath+rest] != nil
	}
	return false, false
}
