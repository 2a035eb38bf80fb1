package vaultfake

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// servePolicy answers sys/policies/acl[/<name>].
func (f *Fake) servePolicy(req *request, name string) answer {
	if name == "" {
		if req.op != "list" {
			return unsupported
		}
		return ok(secret(map[string]any{"keys": f.policyNames()}))
	}
	lower := strings.ToLower(name)
	switch req.op {
	case "read":
		text, found := f.policyText(lower)
		if !found {
			return notFound
		}
		return ok(secret(map[string]any{"name": lower, "policy": text}))
	case "update":
		text, _ := req.body["policy"].(string)
		if text == "" {
			return fail(http.StatusBadRequest, "'policy' parameter not supplied or empty")
		}
		if lower == "root" {
			return fail(http.StatusBadRequest, `cannot update "root" policy`)
		}
		if _, err := parsePolicy(text); err != nil {
			return fail(http.StatusBadRequest, "failed to parse policy: "+err.Error())
		}
		f.policies[lower] = text
		if lower != name {
			return ok(withWarnings(secret(nil), []string{"policy name was converted to " + lower}))
		}
		return noContent()
	case "delete":
		switch lower {
		case "root":
			return fail(http.StatusBadRequest, `cannot delete "root" policy`)
		case "default":
			return fail(http.StatusBadRequest, "cannot delete default policy")
		}
		delete(f.policies, lower)
		return noContent()
	}
	return unsupported
}

// serveOldPolicy answers the older sys/policy[/<name>] API (its answers carry "rules").
func (f *Fake) serveOldPolicy(req *request, name string) answer {
	if name == "" {
		if req.op != "read" && req.op != "list" {
			return unsupported
		}
		names := f.policyNames()
		s := secret(map[string]any{"keys": names, "policies": names})
		s["keys"], s["policies"] = names, names // at the top level too, as Vault answers
		return ok(s)
	}
	lower := strings.ToLower(name)
	switch req.op {
	case "read":
		text, found := f.policyText(lower)
		if !found {
			return notFound
		}
		return ok(secret(map[string]any{"name": lower, "rules": text}))
	case "update":
		if _, ok := req.body["policy"]; !ok {
			req.body["policy"] = req.body["rules"]
		}
	}
	return f.servePolicy(req, name)
}

func (f *Fake) policyText(name string) (string, bool) {
	if name == "root" {
		return "", true
	}
	text, found := f.policies[name]
	return text, found
}

func (f *Fake) policyNames() []string {
	names := slices.Sorted(maps.Keys(f.policies))
	names = append(names, "root")
	sort.Strings(names)
	return names
}
