package vaultfake

import "net/http"

// serveCapabilities answers sys/capabilities (a token in the body) and
// sys/capabilities-self: the capabilities of each path, by the token's policies.
func (f *Fake) serveCapabilities(req *request) answer {
	if req.op != "update" {
		return unsupported
	}
	t := req.tok
	if req.path == "sys/capabilities" {
		id, _ := req.body["token"].(string)
		if t = f.lookupToken(id); t == nil {
			return fail(http.StatusBadRequest, multi("invalid token"))
		}
	}
	paths := stringList(req.body["paths"])
	single, hasSingle := req.body["path"].(string)
	if hasSingle {
		paths = append(paths, single)
	}
	a := f.aclFor(t.Policies)
	data := map[string]any{}
	for _, p := range paths {
		data[p] = a.capabilities(p)
	}
	if hasSingle || len(paths) == 1 {
		// Vault adds "capabilities" for a request that named one path.
		if hasSingle {
			data["capabilities"] = a.capabilities(single)
		} else {
			data["capabilities"] = a.capabilities(paths[0])
		}
	}
	s := secret(data)
	for k, v := range data {
		s[k] = v
	}
	return ok(s)
}
