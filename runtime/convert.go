package runtime

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// ToGo converts a Starlark value to plain Go (nil, bool, int64, float64, string, []any,
// map[string]any) for JSON payloads. Secrets are unwrapped (they are going to a server);
// Unknowns are an error, because a builtin must check IsUnknown before building a
// request in the first place.
func ToGo(v starlark.Value) (any, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		i, ok := v.Int64()
		if !ok {
			return nil, fmt.Errorf("integer %s out of range", v)
		}
		return i, nil
	case starlark.Float:
		return float64(v), nil
	case starlark.String:
		return string(v), nil
	case *Secret:
		return v.value, nil
	case *Unknown:
		return nil, fmt.Errorf("%s is not known until apply", v)
	case *starlark.List:
		out := make([]any, v.Len())
		for i := range out {
			e, err := ToGo(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case starlark.Tuple:
		out := make([]any, len(v))
		for i, e := range v {
			g, err := ToGo(e)
			if err != nil {
				return nil, err
			}
			out[i] = g
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, it := range v.Items() {
			k, ok := it[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("dict key %s is not a string", it[0])
			}
			g, err := ToGo(it[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[string(k)] = g
		}
		return out, nil
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		v.ToStringDict(d)
		out := make(map[string]any, len(d))
		for k, e := range d {
			g, err := ToGo(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot convert %s to data", v.Type())
}

// FromGo converts plain Go data (as decoded from JSON) to Starlark; maps become dicts
// with sorted keys so output is deterministic.
func FromGo(x any) (starlark.Value, error) { return FromJSON(x) }

// Struct builds an immutable struct value from fields.
func Struct(fields starlark.StringDict) *starlarkstruct.Struct {
	for k, v := range fields {
		if b, ok := v.(*starlark.Builtin); ok { // a method such as http's response.json()
			fields[k] = guardBuiltin(b)
		}
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, fields)
}

// Duration accepts "72h", "1h30m", "30s" or an int number of seconds, as Vault and
// Nomad users write TTLs. The error names what was wrong.
func Duration(v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case starlark.Int:
		i, ok := v.Int64()
		if !ok || i < 0 {
			return 0, fmt.Errorf("duration %s: want a non-negative number of seconds", v)
		}
		return time.Duration(i) * time.Second, nil
	case starlark.String:
		s := string(v)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		d, err := parseDurationWithDays(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("duration %q: want e.g. \"72h\", \"30m\" or seconds", s)
		}
		return d, nil
	}
	return 0, fmt.Errorf("duration: want a string like \"72h\" or an int of seconds, not %s", v.Type())
}

// parseDurationWithDays also accepts a trailing "d" (days), which Vault accepts too.
func parseDurationWithDays(s string) (time.Duration, error) {
	if n := len(s); n > 1 && s[n-1] == 'd' {
		days, err := strconv.ParseInt(s[:n-1], 10, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// StringList converts a list or tuple of strings.
func StringList(v starlark.Value) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok || v.Type() == "string" {
		return nil, fmt.Errorf("want a list of strings, not %s", v.Type())
	}
	var out []string
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for iter.Next(&e) {
		s, ok := starlark.AsString(e)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got an element of type %s", e.Type())
		}
		out = append(out, s)
	}
	return out, nil
}

// SortedKeys returns a map's keys in order, for deterministic diffs.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
