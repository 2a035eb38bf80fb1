package vaultfake

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// stateKeys are the keyword arguments of state.vault(...), in the order they apply.
var stateKeys = []string{"initialized", "sealed", "mounts", "auth", "policies", "token_roles", "tokens", "paths"}

// FromStarlark builds a fake from the keyword arguments of state.vault(...):
//
//	state.vault(initialized=True, sealed=False,
//	    policies={name: hcl_text or {path: [capabilities]}},
//	    token_roles={name: {field: value}},           # as written to auth/token/roles/<name>
//	    mounts={path: type or {"type": ..., "description": ..., "options": {...},
//	            "default_lease_ttl": ..., "max_lease_ttl": ...}},
//	    auth={path: type or {...}},                    # auth methods, same shape
//	    paths={path: {field: value}},                  # written as vault.write writes them
//	    tokens=[{"id": token, "policies": [...], "period": "72h", "ttl": ..., "orphan": ...,
//	             "renewable": ..., "display_name": ..., "meta": {...}}])
//
// Without tokens, any non-empty token is valid and root-like; with tokens, only those
// (and the ones the fake mints) are. Each write goes through the fake's own API
// handlers, so the state holds exactly what Vault would: an invalid policy, an unknown
// engine type or a path under no mount is an error with Vault's text.
func FromStarlark(kwargs []starlark.Tuple) (*Fake, error) {
	args := map[string]starlark.Value{}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		if !contains(stateKeys, k) {
			msg := fmt.Sprintf("state.vault: unknown key %q", k)
			if near := closest(k, stateKeys); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			return nil, fmt.Errorf("%s", msg)
		}
		args[k] = kv[1]
	}
	f := New()
	initialized, sealed := true, false
	for _, b := range []struct {
		key string
		dst *bool
	}{{"initialized", &initialized}, {"sealed", &sealed}} {
		if v, ok := args[b.key]; ok {
			bv, isBool := v.(starlark.Bool)
			if !isBool {
				return nil, fmt.Errorf("state.vault: %s: want a bool, not %s", b.key, v.Type())
			}
			*b.dst = bool(bv)
		}
	}
	if !initialized {
		for _, k := range stateKeys[2:] {
			if _, ok := args[k]; ok {
				return nil, fmt.Errorf("state.vault: %s: an uninitialised Vault holds nothing (initialized=False)", k)
			}
		}
		f = newUninitialised()
		return f, nil
	}
	for _, k := range stateKeys[2:] {
		v, ok := args[k]
		if !ok || v == starlark.None {
			continue
		}
		if err := f.describe(k, v); err != nil {
			return nil, fmt.Errorf("state.vault: %s%w", k, err)
		}
	}
	f.sealed = sealed
	return f, nil
}

// newUninitialised is a Vault before `vault operator init`.
func newUninitialised() *Fake {
	f := New()
	*f = Fake{
		policies: map[string]string{}, tokenRoles: map[string]map[string]any{},
		mounts: map[string]*mount{}, auths: map[string]*mount{},
		tokens: map[string]*token{}, accessors: map[string]*token{},
		anyToken: true, data: map[string]map[string]any{}, leases: map[string]*lease{}, seq: f.seq,
	}
	return f
}

// describe applies one state key. Errors start with what follows the key's name.
func (f *Fake) describe(key string, v starlark.Value) error {
	if key == "tokens" {
		return f.describeTokens(v)
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf(": want a dict, not %s", v.Type())
	}
	for _, it := range d.Items() {
		name, ok := starlark.AsString(it[0])
		if !ok {
			return fmt.Errorf(": want string keys, not %s", it[0].Type())
		}
		if err := f.describeOne(key, name, it[1]); err != nil {
			return fmt.Errorf("[%q]: %w", name, err)
		}
	}
	return nil
}

func (f *Fake) describeOne(key, name string, v starlark.Value) error {
	switch key {
	case "policies":
		text, err := policyText(v)
		if err != nil {
			return err
		}
		return f.write("update", "sys/policies/acl/"+name, map[string]any{"policy": text})
	case "token_roles":
		body, err := goDict(v, "a dict of role fields")
		if err != nil {
			return err
		}
		return f.write("update", "auth/token/roles/"+name, body)
	case "mounts", "auth":
		body := map[string]any{}
		if s, ok := starlark.AsString(v); ok {
			body["type"] = s
		} else {
			var err error
			if body, err = goDict(v, "an engine type or a dict with \"type\""); err != nil {
				return err
			}
			cfg := map[string]any{}
			for _, k := range []string{"default_lease_ttl", "max_lease_ttl"} {
				if x, ok := body[k]; ok {
					cfg[k] = x
					delete(body, k)
				}
			}
			body["config"] = cfg
		}
		prefix := "sys/mounts/"
		if key == "auth" {
			prefix = "sys/auth/"
		}
		return f.write("update", prefix+strings.Trim(name, "/"), body)
	case "paths":
		body, err := goDict(v, "a dict of fields")
		if err != nil {
			return err
		}
		return f.write("update", strings.Trim(name, "/"), body)
	}
	return nil
}

func policyText(v starlark.Value) (string, error) {
	if s, ok := starlark.AsString(v); ok {
		return s, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return "", fmt.Errorf("want HCL text or a dict {path: [capabilities]}, not %s", v.Type())
	}
	var b strings.Builder
	for _, it := range d.Items() {
		path, ok := starlark.AsString(it[0])
		caps, err := runtime.StringList(it[1])
		if !ok || err != nil {
			return "", fmt.Errorf("want a dict {path: [capabilities]}")
		}
		quoted := make([]string, len(caps))
		for i, c := range caps {
			quoted[i] = fmt.Sprintf("%q", c)
		}
		fmt.Fprintf(&b, "path %q {\n  capabilities = [%s]\n}\n", path, strings.Join(quoted, ", "))
	}
	return b.String(), nil
}

func goDict(v starlark.Value, want string) (map[string]any, error) {
	if _, ok := v.(*starlark.Dict); !ok {
		return nil, fmt.Errorf("want %s, not %s", want, v.Type())
	}
	g, err := runtime.ToGo(v)
	if err != nil {
		return nil, err
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want %s", want)
	}
	return m, nil
}

var tokenKeys = []string{"id", "policies", "period", "ttl", "orphan", "renewable", "display_name", "meta"}

func (f *Fake) describeTokens(v starlark.Value) error {
	l, ok := v.(*starlark.List)
	if !ok {
		return fmt.Errorf(": want a list of dicts, not %s", v.Type())
	}
	f.anyToken = false
	for i := 0; i < l.Len(); i++ {
		d, err := goDict(l.Index(i), "a dict")
		if err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		for _, k := range slices.Sorted(maps.Keys(d)) {
			if !contains(tokenKeys, k) {
				msg := fmt.Sprintf("[%d]: unknown key %q", i, k)
				if near := closest(k, tokenKeys); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				return fmt.Errorf("%s", msg)
			}
		}
		id, _ := d["id"].(string)
		if id == "" {
			return fmt.Errorf("[%d]: id: want the token (a non-empty string)", i)
		}
		if f.tokens[id] != nil {
			return fmt.Errorf("[%d]: id: the same token twice", i)
		}
		policies := policyList(d["policies"])
		if len(policies) == 0 {
			policies = []string{"root"}
		}
		t := &token{ID: id, Policies: policies, Renewable: true, Path: "auth/token/create", Meta: stringMap(d["meta"])}
		if contains(policies, "root") {
			t.Path, t.Orphan, t.DisplayName = "auth/token/root", true, "root"
		} else {
			t.DisplayName = "token"
		}
		if n, _ := d["display_name"].(string); n != "" {
			t.DisplayName = "token-" + n
		}
		for _, x := range []struct {
			key string
			dst *int64
		}{{"period", &t.Period}, {"ttl", &t.TTL}} {
			secs, err := durationField(x.key, d[x.key])
			if err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
			*x.dst = secs
		}
		for _, x := range []struct {
			key string
			dst *bool
		}{{"orphan", &t.Orphan}, {"renewable", &t.Renewable}} {
			if raw, ok := d[x.key]; ok {
				b, err := boolField(x.key, raw)
				if err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
				*x.dst = b
			}
		}
		f.addToken(t)
	}
	return nil
}

// write applies a write to the fake as the root token would make it, and turns an
// error answer into an error with Vault's text.
func (f *Fake) write(op, path string, body map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.route(&request{op: op, path: path, body: body, tok: &token{Policies: []string{"root"}}})
	if a.status >= 400 {
		msgs, _ := a.body.(map[string]any)["errors"].([]string)
		return fmt.Errorf("Vault would answer %d to %s %s: %s", a.status, strings.ToUpper(op), path, strings.Join(msgs, "; "))
	}
	return nil
}

// closest is the candidate nearest to s, the first in sorted order among equals.
func closest(s string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	return runtime.Closest(s, sorted)
}
