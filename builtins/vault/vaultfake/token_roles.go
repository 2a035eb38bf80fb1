package vaultfake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// newTokenRole is a token role as Vault 1.14 reads it back when nothing is set.
func newTokenRole(name string) map[string]any {
	return map[string]any{
		"allowed_entity_aliases": nil, "allowed_policies": []string{}, "allowed_policies_glob": []string{},
		"disallowed_policies": []string{}, "disallowed_policies_glob": []string{}, "explicit_max_ttl": int64(0),
		"name": name, "orphan": false, "path_suffix": "", "period": int64(0), "renewable": true,
		"token_explicit_max_ttl": int64(0), "token_no_default_policy": false, "token_period": int64(0),
		"token_type": "default-service",
	}
}

// setTokenRoleFields applies the fields of a role write to role, as Vault does: unknown
// fields are ignored, the legacy period, explicit_max_ttl and bound_cidrs set their
// token_ twins too.
func setTokenRoleFields(role map[string]any, body map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(body)) {
		v := body[k]
		switch k {
		case "allowed_policies", "disallowed_policies":
			role[k] = policyList(v)
		case "allowed_policies_glob", "disallowed_policies_glob":
			role[k] = policyList(v)
		case "allowed_entity_aliases":
			role[k] = stringList(v)
		case "orphan", "renewable", "token_no_default_policy":
			b, err := boolField(k, v)
			if err != nil {
				return err
			}
			role[k] = b
		case "token_period", "token_explicit_max_ttl", "period", "explicit_max_ttl":
			d, err := durationField(k, v)
			if err != nil {
				return err
			}
			role[k] = d
			if !strings.HasPrefix(k, "token_") {
				if _, both := body["token_"+k]; !both {
					role["token_"+k] = d
				}
			}
		case "token_num_uses":
			n, ok := intField(v)
			if !ok {
				return fmt.Errorf("error converting input %v for field %q", v, k)
			}
			if n == 0 {
				delete(role, k)
			} else {
				role[k] = n
			}
		case "token_bound_cidrs", "bound_cidrs":
			l := stringList(v)
			for i, c := range l { // Vault reads a single address back without its /32
				l[i] = strings.TrimSuffix(strings.TrimSuffix(c, "/32"), "/128")
			}
			role[k] = l
			if k == "bound_cidrs" {
				role["token_bound_cidrs"] = l
			}
		case "path_suffix":
			role[k] = fmt.Sprint(v)
		case "token_type":
			t := fmt.Sprint(v)
			switch t {
			case "default", "":
				t = "default-service"
			case "service", "batch", "default-service", "default-batch":
			default:
				return fmt.Errorf("invalid 'token_type' value %q", t)
			}
			role[k] = t
		}
	}
	return nil
}

// serveTokenRole answers auth/token/roles[/<name>].
func (f *Fake) serveTokenRole(req *request, name string) answer {
	if name == "" {
		if req.op != "list" {
			return unsupported
		}
		if len(f.tokenRoles) == 0 {
			return notFound
		}
		return ok(secret(map[string]any{"keys": slices.Sorted(maps.Keys(f.tokenRoles))}))
	}
	name = strings.ToLower(name)
	switch req.op {
	case "read":
		role := f.tokenRoles[name]
		if role == nil {
			return notFound
		}
		return ok(secret(role))
	case "update":
		role := f.tokenRoles[name]
		fresh := role == nil
		if fresh {
			role = newTokenRole(name)
		} else {
			role = cloneMap(role)
		}
		if err := setTokenRoleFields(role, req.body); err != nil {
			return fail(http.StatusBadRequest, err.Error())
		}
		f.tokenRoles[name] = role
		return noContent()
	case "delete":
		delete(f.tokenRoles, name)
		return noContent()
	}
	return unsupported
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
