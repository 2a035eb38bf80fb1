package fakenet

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
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
	if near := Closest(name, allowed); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return fmt.Errorf("%s; valid: %s", msg, strings.Join(sorted(allowed), ", "))
}

// WrongType is the error for a value of the wrong type.
func WrongType(where, key, want string, v starlark.Value) error {
	return fmt.Errorf("%s: %s: want %s, not %s", where, key, want, v.Type())
}

// Closest is the name in names nearest to n by edit distance, if near enough to be a
// typo; "" otherwise.
func Closest(n string, names []string) string {
	best, bestD := "", len(n)/2+2
	for _, c := range names {
		if d := editDistance(strings.ToLower(n), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
