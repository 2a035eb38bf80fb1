package vaultfake

import (
	"net/http"
	"strings"
	"time"
)

// serveLeases answers sys/leases/revoke, sys/leases/revoke-prefix/<prefix> and their
// older sys/revoke twins.
func (f *Fake) serveLeases(req *request) answer {
	if req.op != "update" {
		return unsupported
	}
	p := strings.TrimPrefix(req.path, "sys/leases/")
	p = strings.TrimPrefix(p, "sys/")
	switch {
	case p == "revoke" || strings.HasPrefix(p, "revoke/"):
		id, _ := req.body["lease_id"].(string)
		if id == "" {
			id = strings.TrimPrefix(strings.TrimPrefix(p, "revoke"), "/")
		}
		if id == "" {
			return fail(http.StatusBadRequest, "lease_id must be specified")
		}
		delete(f.leases, id)
		return noContent()
	case strings.HasPrefix(p, "revoke-prefix/"):
		prefix := strings.TrimPrefix(p, "revoke-prefix/")
		for id := range f.leases {
			if strings.HasPrefix(id, prefix) {
				delete(f.leases, id)
			}
		}
		return noContent()
	case p == "lookup":
		id, _ := req.body["lease_id"].(string)
		l := f.leases[id]
		if l == nil {
			return fail(http.StatusBadRequest, "invalid lease")
		}
		expire := l.issued.Add(time.Duration(l.ttl) * time.Second)
		return ok(secret(map[string]any{
			"id": id, "issue_time": l.issued.UTC().Format(time.RFC3339Nano), "expire_time": expire.UTC().Format(time.RFC3339Nano),
			"last_renewal": nil, "renewable": true, "ttl": int64(time.Until(expire) / time.Second),
		}))
	}
	return unsupportedPath
}

// lease is a lease the fake issued (database credentials).
type lease struct {
	issued time.Time
	ttl    int64 // seconds
}
