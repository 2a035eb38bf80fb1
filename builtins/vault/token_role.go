package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// roleKind is how a token role field is written, read back and compared.
type roleKind int

const (
	roleSet       roleKind = iota // list or comma string; compared as a set
	rolePolicySet                 // a set of policy names, which Vault lower-cases
	roleBool
	roleDuration // "72h" or seconds; Vault reads back seconds
	roleInt
	roleString
)

// roleFields are the fields of auth/token/roles/NAME (Vault 1.14). The read omits
// token_num_uses and the CIDR lists when they are zero or empty; their absence is read
// as that zero value.
var roleFields = map[string]roleKind{
	"allowed_policies": rolePolicySet, "disallowed_policies": rolePolicySet,
	"allowed_policies_glob": roleSet, "disallowed_policies_glob": roleSet,
	"allowed_entity_aliases": roleSet, "token_bound_cidrs": roleSet, "bound_cidrs": roleSet,
	"orphan": roleBool, "renewable": roleBool, "token_no_default_policy": roleBool,
	"token_period": roleDuration, "period": roleDuration,
	"token_explicit_max_ttl": roleDuration, "explicit_max_ttl": roleDuration,
	"token_num_uses": roleInt, "path_suffix": roleString, "token_type": roleString,
}

// tokenRole is vault.token_role(name, namespace=None, **fields), as
// `vault write auth/token/roles/NAME @role.json`. Fields use the API's names:
// allowed_policies / disallowed_policies (a list or a comma string), orphan, renewable,
// token_period / period and token_explicit_max_ttl / explicit_max_ttl ("72h" or
// seconds), token_type, path_suffix, allowed_entity_aliases, token_bound_cidrs,
// token_num_uses, token_no_default_policy. An unknown field is an error.
//
// Plan and apply: the role is read back and only the fields the script gives are
// compared, each normalised on both sides (a duration as seconds, since Vault reports
// token_period as 259200 where the script says "72h"; sets sorted). Absent -> create;
// a field differs -> update with a diff per field, writing every given field; all equal
// -> unchanged. Offline or before login, a create. From the fourth token role of a run
// on, one LIST of auth/token/roles says which names exist, and an absent one is a
// create without reading it (index.go).
//
// Its Delete (for destroy) deletes the role.
func (v *vault) tokenRole(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var name string
	if err := starlark.UnpackPositionalArgs(fn.Name(), args, nil, 1, &name); err != nil {
		return nil, err
	}
	if name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("%s: name %q: want a role name", fn.Name(), name)
	}
	fields, err := v.unpackFields(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	want := map[string]any{}
	for _, f := range fields {
		kind, ok := roleFields[f.name]
		if !ok {
			return nil, fmt.Errorf("%s: unknown field %q (known: %s)", fn.Name(), f.name, strings.Join(runtime.SortedKeys(roleFields), ", "))
		}
		if f.unknown {
			continue
		}
		n, err := normaliseRoleField(kind, f.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", fn.Name(), f.name, err)
		}
		want[f.name] = n
	}
	path := "auth/token/roles/" + name
	addr := v.address(ns, "token role", name)
	// Only a create shows every field: not built for a role that exists (a live plan's
	// usual case).
	createDiff := func() []runtime.DiffLine {
		var diff []runtime.DiffLine
		for _, f := range fields {
			shown := f.shown()
			if !f.unknown && !f.sensitive {
				shown = showRoleField(roleFields[f.name], want[f.name])
			}
			diff = append(diff, runtime.DiffLine{Op: "+", Key: f.name, After: shown})
		}
		return diff
	}
	return v.run.Converge(thread, runtime.Resource{
		Server:  v.server,
		Address: addr,
		// As vault.policy's: the read may run ahead (runtime.Resource.AsyncResult).
		AsyncResult: starlark.None,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			c, err := v.api(ns)
			if err != nil {
				return nil, "", err
			}
			if v.knownAbsent(ctx, c, ns, tokenRoleCollection, name) {
				return nil, runtime.Absent, nil
			}
			live, raw, err := readFields(ctx, c, path)
			if err != nil {
				return nil, "", v.explain(err)
			}
			if live == nil {
				return nil, runtime.Absent, nil
			}
			// The given fields as Vault has them, normalised as the script's are.
			have := map[string]any{}
			for _, f := range fields {
				kind := roleFields[f.name]
				have[f.name] = roleZero(kind)
				if x := live[f.name]; x != nil {
					if have[f.name], err = normaliseRoleField(kind, x); err != nil {
						return nil, "", fmt.Errorf("%s: %s read back from Vault: %w", fn.Name(), f.name, err)
					}
				}
			}
			return have, runtime.JSONFingerprint(raw), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			have, _ := live.Value.(map[string]any)
			if have == nil {
				return runtime.Change{Action: runtime.Create, Summary: runtime.Plural(len(fields), "field"),
					Diff: createDiff(), Planned: starlark.None, Notes: unreadNotes(live)}
			}
			var diff []runtime.DiffLine
			for _, f := range fields {
				kind := roleFields[f.name]
				if f.unknown {
					diff = append(diff, runtime.DiffLine{Op: "~", Key: f.name, Before: showRoleField(kind, have[f.name]), After: f.shown()})
					continue
				}
				if !sameRoleField(want[f.name], have[f.name]) {
					diff = append(diff, runtime.DiffLine{Op: "~", Key: f.name, Before: showRoleField(kind, have[f.name]), After: showRoleField(kind, want[f.name])})
				}
			}
			if len(diff) == 0 {
				return runtime.Change{Action: runtime.Unchanged, Summary: runtime.Plural(len(fields), "field")}
			}
			return runtime.Change{Action: runtime.Update, Summary: fmt.Sprintf("%s of %s", runtime.Plural(len(diff), "change"), runtime.Plural(len(fields), "field")),
				Diff: diff, Planned: starlark.None}
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			c, err := v.api(ns)
			if err != nil {
				return nil, err
			}
			if _, err := c.Logical().WriteWithContext(ctx, path, want); err != nil {
				return nil, v.explain(err)
			}
			v.wrote(ns, tokenRoleCollection, name)
			return nil, nil
		},
		Delete: func(ctx context.Context) error {
			c, err := v.api(ns)
			if err != nil {
				return err
			}
			_, err = c.Logical().DeleteWithContext(ctx, path)
			return v.explain(err)
		},
	})
}

// normaliseRoleField turns a script's or Vault's value of a field into one canonical
// form: []string sorted for sets, int64 seconds for durations, bool, int64, string.
func normaliseRoleField(kind roleKind, x any) (any, error) {
	switch kind {
	case roleSet, rolePolicySet:
		var list []string
		switch v := x.(type) {
		case string:
			list = splitComma(v)
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want a list of strings")
				}
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
		case nil:
		default:
			return nil, fmt.Errorf("want a list of strings or a comma-separated string")
		}
		seen := map[string]bool{}
		out := []string{}
		for _, s := range list {
			if kind == rolePolicySet {
				s = strings.ToLower(s)
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		sort.Strings(out)
		return out, nil
	case roleBool:
		switch v := x.(type) {
		case bool:
			return v, nil
		case string:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("want a bool, not %q", v)
			}
			return b, nil
		}
		return nil, fmt.Errorf("want a bool")
	case roleDuration:
		switch v := x.(type) {
		case int64:
			return v, nil
		case json.Number:
			n, err := v.Int64()
			if err != nil {
				return nil, fmt.Errorf("want seconds, not %s", v)
			}
			return n, nil
		case string:
			secs, ok := durationSeconds(v)
			if !ok {
				return nil, fmt.Errorf("duration %q: want e.g. \"72h\" or seconds", v)
			}
			return secs, nil
		}
		return nil, fmt.Errorf("want a duration like \"72h\" or seconds")
	case roleInt:
		switch v := x.(type) {
		case int64:
			return v, nil
		case json.Number:
			return v.Int64()
		}
		return nil, fmt.Errorf("want an int")
	}
	s, ok := x.(string)
	if !ok {
		return nil, fmt.Errorf("want a string")
	}
	return s, nil
}

func roleZero(kind roleKind) any {
	switch kind {
	case roleSet, rolePolicySet:
		return []string{}
	case roleBool:
		return false
	case roleDuration, roleInt:
		return int64(0)
	}
	return ""
}

func sameRoleField(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, ok := b.([]string)
		return ok && equalStrings(as, bs)
	}
	return a == b
}

func showRoleField(kind roleKind, x any) string {
	switch kind {
	case roleDuration:
		return showSeconds(x.(int64))
	case roleSet, rolePolicySet:
		return showValue(x)
	}
	return showValue(x)
}
