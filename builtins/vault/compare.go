package vault

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// This file compares what a script asks for with what Vault reads back. Vault echoes
// values in its own shapes: TTLs as seconds where the script wrote "1h", a comma string
// as a list, one SQL statement as a one-element list, numbers as JSON numbers. Each rule
// below says "these two mean the same" for one such shape, so that a second run finds
// nothing to change.

// sameValue says whether the desired value (plain Go from runtime.ToGo) means the same
// as the live one (decoded JSON, numbers as json.Number).
func sameValue(want, have any) bool {
	switch w := want.(type) {
	case nil:
		return have == nil || isZero(have)
	case bool:
		switch h := have.(type) {
		case bool:
			return w == h
		case string:
			b, err := strconv.ParseBool(h)
			return err == nil && b == w
		}
	case int64:
		if n, ok := number(have); ok {
			return n == float64(w)
		}
		if s, ok := have.(string); ok {
			if secs, ok := durationSeconds(s); ok {
				return secs == w
			}
		}
	case float64:
		if n, ok := number(have); ok {
			return n == w
		}
	case string:
		switch h := have.(type) {
		case string:
			if w == h {
				return true
			}
			ws, ok1 := durationSeconds(w)
			hs, ok2 := durationSeconds(h)
			return ok1 && ok2 && ws == hs
		case json.Number:
			if secs, ok := durationSeconds(w); ok {
				n, err := h.Float64()
				return err == nil && n == float64(secs)
			}
		case bool:
			b, err := strconv.ParseBool(w)
			return err == nil && b == h
		case []any:
			// One string may stand for a one-element list ("GRANT ...;" for
			// creation_statements) or a comma-separated one ("a,b" for allowed_roles).
			if len(h) == 1 && sameValue(w, h[0]) {
				return true
			}
			parts := splitComma(w)
			return sameList(toAnyList(parts), h)
		case nil:
			return w == ""
		}
	case []any:
		switch h := have.(type) {
		case []any:
			return sameList(w, h)
		case string:
			return sameList(w, toAnyList(splitComma(h)))
		case nil:
			return len(w) == 0
		}
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return have == nil && len(w) == 0
		}
		// Only the keys the script gives are managed.
		for k, wv := range w {
			hv, present := h[k]
			if !present {
				if isZero(wv) {
					continue
				}
				return false
			}
			if !sameValue(wv, hv) {
				return false
			}
		}
		return true
	}
	return false
}

// sameList compares in order first (SQL statements are ordered), then as sets of
// strings (allowed_roles and policies are sets that Vault may sort).
func sameList(w, h []any) bool {
	if len(w) != len(h) {
		return false
	}
	inOrder := true
	for i := range w {
		if !sameValue(w[i], h[i]) {
			inOrder = false
			break
		}
	}
	if inOrder {
		return true
	}
	ws, ok1 := stringsOf(w)
	hs, ok2 := stringsOf(h)
	if !ok1 || !ok2 {
		return false
	}
	sort.Strings(ws)
	sort.Strings(hs)
	return equalStrings(ws, hs)
}

func stringsOf(l []any) ([]string, bool) {
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func toAnyList(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func number(x any) (float64, bool) {
	switch n := x.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// durationSeconds reads "72h", "1h30m", "3d" or "3600" as seconds, as Vault does.
func durationSeconds(s string) (int64, bool) {
	var d runtime.DurationArg
	if d.Unpack(starlark.String(s)) != nil {
		return 0, false
	}
	return int64(d.D() / time.Second), true
}

func isZero(x any) bool {
	switch v := x.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case json.Number:
		f, err := v.Float64()
		return err == nil && f == 0
	case int64:
		return v == 0
	case float64:
		return v == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// showValue renders a value for a diff line: JSON-like and short. Secrets never get
// here (callers show runtime.Redacted for them).
func showValue(x any) string {
	switch v := x.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	s := string(b)
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// showSeconds renders seconds as Vault users write TTLs: 259200 -> "72h", 90 -> "1m30s".
func showSeconds(secs int64) string {
	if secs == 0 {
		return "0"
	}
	return runtime.ShortDuration(time.Duration(secs) * time.Second)
}
