package vaultfake

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// createToken answers auth/token/create, create-orphan and create/<role>.
func (f *Fake) createToken(req *request, rest string) answer {
	b := req.body
	t := &token{Path: "auth/token/" + rest, Renewable: true, Meta: stringMap(b["meta"])}
	var role map[string]any
	if name, isRole := strings.CutPrefix(rest, "create/"); isRole {
		if role = f.tokenRoles[strings.ToLower(name)]; role == nil {
			return fail(http.StatusBadRequest, "unknown role "+name)
		}
	}
	policies := policyList(b["policies"])
	noDefault := false
	if v, ok := b["no_default_policy"]; ok {
		var err error
		if noDefault, err = boolField("no_default_policy", v); err != nil {
			return fail(http.StatusBadRequest, err.Error())
		}
	}
	if v, ok := b["renewable"]; ok {
		r, err := boolField("renewable", v)
		if err != nil {
			return fail(http.StatusBadRequest, err.Error())
		}
		t.Renewable = r
	}
	for _, d := range []struct {
		name string
		dst  *int64
	}{{"period", &t.Period}, {"ttl", &t.TTL}, {"explicit_max_ttl", &t.ExplicitMaxTTL}} {
		v, err := durationField(d.name, b[d.name])
		if err != nil {
			return fail(http.StatusBadRequest, err.Error())
		}
		*d.dst = v
	}
	if n, ok := intField(b["num_uses"]); ok {
		t.NumUses = n
	}
	switch {
	case rest == "create-orphan":
		t.Orphan = true
	case role != nil:
		t.Orphan, _ = role["orphan"].(bool)
		if r, _ := role["renewable"].(bool); !r {
			t.Renewable = false
		}
		// Vault gives a role's token the role's period as its TTL (lookup shows no period).
		if p, _ := role["token_period"].(int64); p > 0 && t.Period == 0 && t.TTL == 0 {
			t.TTL = p
		}
		t.Role = strings.ToLower(strings.TrimPrefix(rest, "create/"))
		allowed, _ := role["allowed_policies"].([]string)
		globs, _ := role["allowed_policies_glob"].([]string)
		if len(policies) == 0 {
			policies = append([]string(nil), allowed...)
		} else if len(allowed) > 0 {
			withDefault := func(l []string) []string {
				out := append([]string(nil), l...)
				if !contains(out, "default") {
					out = append(out, "default")
				}
				sort.Strings(out)
				return out
			}
			if extra := missingFrom(policies, withDefault(allowed)); len(extra) > 0 {
				return fail(http.StatusBadRequest, fmt.Sprintf("token policies (%q) must be subset of the role's allowed policies (%q) or glob policies (%q)",
					withDefault(policies), withDefault(allowed), globs))
			}
		}
		if nd, _ := role["token_no_default_policy"].(bool); nd {
			noDefault = true
		}
	default:
		if nop, _ := b["no_parent"].(bool); nop {
			t.Orphan = true
		}
	}
	if !t.Orphan {
		t.Parent = req.tok.ID
	}
	if len(policies) == 0 && role == nil {
		policies = append([]string(nil), req.tok.Policies...) // a child inherits its parent's policies
	}
	if !req.tok.root() && role == nil {
		if extra := missingFrom(policies, append(req.tok.Policies, "default")); len(extra) > 0 {
			return fail(http.StatusBadRequest, "child policies must be subset of parent")
		}
	}
	if !noDefault && !contains(policies, "root") && !contains(policies, "default") {
		policies = append(policies, "default")
	}
	if noDefault {
		policies = without(policies, "default")
	}
	sort.Strings(policies)
	t.Policies = policies
	if t.Period == 0 && t.TTL == 0 && !contains(policies, "root") {
		t.TTL = defaultLeaseTTL // the system default, as the token mount has none of its own
	}
	t.DisplayName = "token"
	if n, _ := b["display_name"].(string); n != "" {
		t.DisplayName = strings.TrimSuffix(displayNameSanitize.ReplaceAllString("token-"+n, "-"), "-")
	}
	var warnings []string
	for _, p := range policies {
		if _, ok := f.policies[p]; !ok && p != "root" {
			warnings = append(warnings, fmt.Sprintf("Policy %q does not exist", p))
		}
	}
	f.addToken(t)
	var meta any
	if t.Meta != nil {
		meta = t.Meta
	}
	out := secret(nil)
	out["auth"] = map[string]any{
		"client_token": t.ID, "accessor": t.Accessor, "policies": t.Policies, "token_policies": t.Policies,
		"metadata": meta, "lease_duration": t.effectiveTTL(), "renewable": t.Renewable && t.effectiveTTL() > 0,
		"entity_id": "", "token_type": "service", "orphan": t.Orphan, "mfa_requirement": nil, "num_uses": t.NumUses,
	}
	return ok(withWarnings(out, warnings))
}

var displayNameSanitize = regexp.MustCompile("[^a-zA-Z0-9-]")

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func without(l []string, s string) []string {
	out := []string{}
	for _, e := range l {
		if e != s {
			out = append(out, e)
		}
	}
	return out
}

// missingFrom lists the elements of l that are not in set.
func missingFrom(l, set []string) []string {
	var out []string
	for _, e := range l {
		if !contains(set, e) {
			out = append(out, e)
		}
	}
	return out
}
