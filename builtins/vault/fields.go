package vault

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// This file turns the free-form fields of vault.write and vault.token_role into request
// data, and response data into Starlark, keeping secrets secret on the way in and out.

// sensitiveKeys are field names whose values are secrets: their values are registered
// with the redactor, shown as (sensitive) in diffs, and returned as secret values.
var sensitiveKeys = map[string]bool{
	"password": true, "token": true, "client_token": true, "secret_id": true, "private_key": true,
	"keys": true, "keys_b64": true, "secret_key": true, "access_key": true, "secret": true,
	"security_token": true, "session_token": true, "root_token": true, "unseal_keys_b64": true,
	"unseal_keys_hex": true, "wrapping_token": true, "id_token": true, "client_secret": true,
	"root_password": true, "bindpass": true, "service_account_json": true, "credentials": true,
	"passphrase": true, "pem_bundle": true,
}

func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	return sensitiveKeys[k] || strings.HasSuffix(k, "_password") || strings.HasSuffix(k, "_token") || strings.HasSuffix(k, "_secret")
}

// unpackFields converts free-form kwargs to plain data for a request, noting which are
// secrets (registered with the redactor) and which are unknown in a plan.
type field struct {
	name      string
	value     any // nil when unknown
	unknown   bool
	sensitive bool
}

func (v *vault) unpackFields(fn string, kwargs []starlark.Tuple) ([]field, error) {
	out := make([]field, 0, len(kwargs))
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		f := field{name: name, sensitive: sensitiveKey(name)}
		if runtime.IsUnknown(kv[1]) {
			f.unknown = true
			out = append(out, f)
			continue
		}
		if _, isSecret := kv[1].(*runtime.Secret); isSecret {
			f.sensitive = true
		}
		g, err := runtime.ToGo(kv[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", fn, name, err)
		}
		if f.sensitive {
			registerStrings(v.run, g)
		}
		f.value = g
		out = append(out, f)
	}
	return out, nil
}

// registerStrings registers every string inside x as a secret.
func registerStrings(r *runtime.Run, x any) {
	switch v := x.(type) {
	case string:
		r.Secret(v)
	case []any:
		for _, e := range v {
			registerStrings(r, e)
		}
	case map[string]any:
		for _, e := range v {
			registerStrings(r, e)
		}
	}
}

func (f field) shown() string {
	switch {
	case f.unknown:
		return "(known after apply)"
	case f.sensitive:
		return runtime.Redacted
	}
	return showValue(f.value)
}

// payload is the request body for fields (all known).
func payload(fields []field) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		m[f.name] = f.value
	}
	return m
}

// dataValue converts response data to Starlark, with the values of secret-bearing keys
// (and every string nested under them) as secrets.
func (v *vault) dataValue(key string, x any) (starlark.Value, error) {
	if sensitiveKey(key) {
		switch s := x.(type) {
		case string:
			return v.run.Secret(s), nil
		case []any:
			l := make([]starlark.Value, len(s))
			for i, e := range s {
				ev, err := v.dataValue(key, e)
				if err != nil {
					return nil, err
				}
				l[i] = ev
			}
			return starlark.NewList(l), nil
		}
	}
	if m, ok := x.(map[string]any); ok {
		d := starlark.NewDict(len(m))
		for _, k := range runtime.SortedKeys(m) {
			ev, err := v.dataValue(k, m[k])
			if err != nil {
				return nil, err
			}
			if sensitiveKey(key) {
				if s, ok := m[k].(string); ok {
					ev = v.run.Secret(s)
				}
			}
			if err := d.SetKey(starlark.String(k), ev); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	if l, ok := x.([]any); ok {
		out := make([]starlark.Value, len(l))
		for i, e := range l {
			ev, err := v.dataValue("", e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return starlark.NewList(out), nil
	}
	return runtime.FromGo(x)
}

// namespaceKwarg takes the namespace= argument (every builtin that works inside a
// namespace accepts it) out of kwargs, so that free-form builtins (write, token_role) do
// not send it as a field. "" means the run's namespace (vault.namespace).
func namespaceKwarg(fn string, kwargs []starlark.Tuple) (string, []starlark.Tuple, error) {
	var ns runtime.NamespaceArg
	out := kwargs[:0:0]
	for _, kv := range kwargs {
		if string(kv[0].(starlark.String)) != "namespace" {
			out = append(out, kv)
			continue
		}
		if err := runtime.UnpackArg(fn, "namespace", kv[1], &ns); err != nil {
			return "", nil, err
		}
	}
	return string(ns), out, nil
}
