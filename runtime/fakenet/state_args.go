package fakenet

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// StateArgs checks the keyword arguments of a described server (state.consul(...),
// state.nomad(...), state.http(...)): where names the call ("state.consul"), allowed
// are its keys. Positional arguments, a key given twice and an unknown key (with the
// closest valid one) are errors; the runner adds file:line.
func StateArgs(where string, args starlark.Tuple, kwargs []starlark.Tuple, allowed ...string) (map[string]starlark.Value, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%s: give keyword arguments only (%s)", where, strings.Join(sorted(allowed), "=, ")+"=")
	}
	out := map[string]starlark.Value{}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		if !contains(allowed, k) {
			return nil, UnknownKey(where, "key", k, allowed)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: key %q given twice", where, k)
		}
		out[k] = kv[1]
	}
	return out, nil
}

// UnknownKey is the error for a name that is not one of allowed: what says what kind of
// name it is ("key", "field"), and the closest allowed name is suggested.
func UnknownKey(where, what, name string, allowed []string) error {
	msg := fmt.Sprintf("%s: unknown %s %q", where, what, name)
	if near := runtime.Closest(name, allowed); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return fmt.Errorf("%s; valid: %s", msg, strings.Join(sorted(allowed), ", "))
}

// WrongType is the error for a value of the wrong type.
func WrongType(where, key, want string, v starlark.Value) error {
	return fmt.Errorf("%s: %s: want %s, not %s", where, key, want, v.Type())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}
