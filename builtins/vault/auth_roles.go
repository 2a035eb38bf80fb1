package vault

import (
	"fmt"
	"regexp"
	"strings"
)

// authRole is what this run writes to an auth method's role: where, and the policies
// its tokens get.
type authRole struct {
	path     string
	policies []string
}

// authRolePath matches the role paths of the auth methods whose roles carry
// token_policies (jwt, oidc, kubernetes, approle's role/ too).
var authRolePath = regexp.MustCompile(`^auth/(.+)/role/([^/]+)$`)

// rememberAuthRole notes the token policies of a role that vault.write writes, so the
// nomad module can check a job that names the role before it exists (a plan).
func (v *vault) rememberAuthRole(ns, path string, fields []field) {
	m := authRolePath.FindStringSubmatch(path)
	if m == nil {
		return
	}
	for _, f := range fields {
		if (f.name != "token_policies" && f.name != "policies") || f.unknown {
			continue
		}
		var pols []string
		switch x := f.value.(type) {
		case []any:
			for _, e := range x {
				pols = append(pols, fmt.Sprint(e))
			}
		case string:
			pols = splitComma(x)
		}
		v.authRoles[v.policyKey(ns, m[2])] = authRole{path: path, policies: pols}
	}
}

// RolePolicies says which policies the tokens of an auth method role get, if this run
// writes that role (vault.write("auth/<path>/role/<role>", token_policies = [...])).
func (c *capabilityChecker) RolePolicies(role string) (policies []string, path string, ok bool) {
	r, ok := c.v.authRoles[c.v.policyKey("", strings.TrimSpace(role))]
	return r.policies, r.path, ok
}
