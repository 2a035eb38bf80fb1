package vaultfake

import (
	"crypto/sha256"
	"net/http"
	"sort"
	"strings"
	"time"
)

// token is one token the fake knows.
type token struct {
	ID, Accessor   string
	Policies       []string // sorted, as Vault stores them
	Meta           map[string]string
	DisplayName    string
	Path           string // "auth/token/create", "auth/token/root", ...
	Orphan         bool
	Renewable      bool
	Period, TTL    int64 // seconds; 0 for none
	ExplicitMaxTTL int64
	NumUses        int64
	Created        time.Time
	Parent         string // the parent token's id; "" for an orphan
	Role           string // the token role it was created from
}

func (t *token) root() bool {
	for _, p := range t.Policies {
		if p == "root" {
			return true
		}
	}
	return false
}

// lookupToken finds the token a request carries. With no tokens described, any
// non-empty token is root-like.
func (f *Fake) lookupToken(id string) *token {
	if id == "" {
		return nil
	}
	if t := f.tokens[id]; t != nil {
		if t.TTL > 0 && time.Since(t.Created) > time.Duration(t.TTL)*time.Second {
			f.revoke(t)
			return nil
		}
		return t
	}
	if f.anyToken && !f.revoked[id] {
		// Root-like, with an accessor of the usual shape that stays the same for the token.
		sum := sha256.Sum256([]byte(id))
		acc := make([]byte, 24)
		for i := range acc {
			acc[i] = base62[int(sum[i])%len(base62)]
		}
		return &token{ID: id, Accessor: string(acc), Policies: []string{"root"}, DisplayName: "root", Path: "auth/token/root", Orphan: true, Created: time.Now()}
	}
	return nil
}

func (f *Fake) addToken(t *token) *token {
	t.Accessor = f.base62ID(24)
	if t.ID == "" {
		t.ID = f.newTokenID()
	}
	if t.Created.IsZero() {
		t.Created = time.Now()
	}
	f.tokens[t.ID], f.accessors[t.Accessor] = t, t
	return t
}

func (f *Fake) mintRoot() *token {
	return f.addToken(&token{Policies: []string{"root"}, DisplayName: "root", Path: "auth/token/root", Orphan: true})
}

// revoke revokes t and, unless it is an orphan's parent only, its children (revoke
// tree, as Vault's revoke does).
func (f *Fake) revoke(t *token) {
	if f.revoked == nil {
		f.revoked = map[string]bool{}
	}
	f.revoked[t.ID] = true
	delete(f.tokens, t.ID)
	delete(f.accessors, t.Accessor)
	for _, c := range f.tokens {
		if c.Parent == t.ID {
			f.revoke(c)
		}
	}
}

// lookupData is the data of auth/token/lookup*, as Vault 1.14 answers it.
func (t *token) lookupData(withID bool) map[string]any {
	ttl, expire := int64(0), any(nil)
	if d := t.effectiveTTL(); d > 0 {
		left := d - int64(time.Since(t.Created)/time.Second)
		ttl, expire = left, t.Created.Add(time.Duration(d)*time.Second).UTC().Format(time.RFC3339Nano)
	}
	var meta any
	if t.Meta != nil {
		meta = t.Meta
	}
	d := map[string]any{
		"accessor": t.Accessor, "creation_time": t.Created.Unix(), "creation_ttl": t.effectiveTTL(),
		"display_name": t.DisplayName, "entity_id": "", "expire_time": expire, "explicit_max_ttl": t.ExplicitMaxTTL,
		"id": "", "meta": meta, "num_uses": t.NumUses, "orphan": t.Orphan, "path": t.Path,
		"policies": t.Policies, "ttl": ttl, "type": "service",
	}
	if withID {
		d["id"] = t.ID
	}
	if !t.root() {
		d["issue_time"] = t.Created.UTC().Format(time.RFC3339Nano)
		d["renewable"] = t.Renewable
	}
	if t.Period > 0 {
		d["period"] = t.Period
	}
	if t.Role != "" {
		d["role"] = t.Role
	}
	return d
}

func (t *token) effectiveTTL() int64 {
	if t.Period > 0 {
		return t.Period
	}
	return t.TTL
}

func secret(data any) map[string]any {
	return map[string]any{
		"request_id": "00000000-0000-0000-0000-000000000000", "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": data, "wrap_info": nil, "warnings": nil, "auth": nil,
	}
}

func withWarnings(s map[string]any, warnings []string) map[string]any {
	if len(warnings) > 0 {
		s["warnings"] = warnings
	}
	return s
}

// serveTokenAuth answers auth/token/<rest>.
func (f *Fake) serveTokenAuth(req *request, rest string) answer {
	switch {
	case rest == "lookup-self":
		if req.op != "read" && req.op != "update" {
			return unsupported
		}
		return ok(secret(req.tok.lookupData(true)))
	case rest == "lookup":
		if req.op != "update" && req.op != "read" {
			return unsupported
		}
		id, _ := req.body["token"].(string)
		if id == "" {
			return ok(secret(req.tok.lookupData(true)))
		}
		t := f.lookupToken(id)
		if t == nil {
			return fail(http.StatusForbidden, "bad token")
		}
		return ok(secret(t.lookupData(true)))
	case rest == "lookup-accessor":
		if req.op != "update" {
			return unsupported
		}
		a, _ := req.body["accessor"].(string)
		if a == "" {
			return fail(http.StatusBadRequest, multi("missing accessor"))
		}
		t := f.accessors[a]
		if t == nil {
			return fail(http.StatusBadRequest, multi("invalid accessor"))
		}
		return ok(secret(t.lookupData(false)))
	case rest == "revoke-accessor":
		if req.op != "update" {
			return unsupported
		}
		a, _ := req.body["accessor"].(string)
		if a == "" {
			return fail(http.StatusBadRequest, multi("missing accessor"))
		}
		t := f.accessors[a]
		if t == nil {
			return ok(withWarnings(secret(nil), []string{"No token found with this accessor"}))
		}
		f.revoke(t)
		return noContent()
	case rest == "revoke" || rest == "revoke-orphan":
		if req.op != "update" {
			return unsupported
		}
		id, _ := req.body["token"].(string)
		t := f.tokens[id]
		if t == nil {
			if rest == "revoke-orphan" {
				return fail(http.StatusBadRequest, "token to revoke not found")
			}
			return noContent()
		}
		if rest == "revoke-orphan" {
			delete(f.tokens, t.ID)
			delete(f.accessors, t.Accessor)
			for _, c := range f.tokens {
				if c.Parent == t.ID {
					c.Parent, c.Orphan = "", true
				}
			}
			return noContent()
		}
		f.revoke(t)
		return noContent()
	case rest == "revoke-self":
		if req.op != "update" {
			return unsupported
		}
		f.revoke(req.tok) // a root-like token of a described Vault too: it is invalid from now on
		return noContent()
	case rest == "accessors":
		if req.op != "list" {
			return unsupported
		}
		keys := []string{}
		for a := range f.accessors {
			keys = append(keys, a)
		}
		sort.Strings(keys)
		return ok(secret(map[string]any{"keys": keys}))
	case rest == "create" || rest == "create-orphan" || strings.HasPrefix(rest, "create/"):
		if req.op != "update" {
			return unsupported
		}
		return f.createToken(req, rest)
	case rest == "roles" || strings.HasPrefix(rest, "roles/"):
		return f.serveTokenRole(req, strings.TrimPrefix(strings.TrimPrefix(rest, "roles"), "/"))
	}
	return unsupportedPath
}
