package vaultfake

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request fields are decoded as Vault's framework does: a number or a numeric string
// for an int, a duration string or seconds for a duration, a list or a comma string
// for a list. The errors are Vault's.

func intField(x any) (int64, bool) {
	switch v := x.(type) {
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			f, ferr := v.Float64()
			return int64(f), ferr == nil
		}
		return i, true
	case float64:
		return int64(v), true
	case int:
		return int64(v), true
	case int64:
		return v, true
	case string:
		i, err := strconv.ParseInt(v, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// durationField decodes a duration as Vault's framework does (TypeDurationSecond).
func durationField(name string, x any) (int64, error) {
	switch v := x.(type) {
	case nil:
		return 0, nil
	case string:
		if v == "" {
			return 0, nil
		}
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("error converting input %s for field %q: %w", v, name, err)
		}
		return int64(d / time.Second), nil
	}
	if i, ok := intField(x); ok {
		return i, nil
	}
	return 0, fmt.Errorf("error converting input %v for field %q", x, name)
}

func boolField(name string, x any) (bool, error) {
	switch v := x.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("error converting input %s for field %q: cannot parse '' as bool: %w", v, name, err)
		}
		return b, nil
	case json.Number:
		i, _ := v.Int64()
		return i != 0, nil
	}
	return false, fmt.Errorf("error converting input %v for field %q", x, name)
}

// stringList decodes TypeCommaStringSlice: a list, or a comma-separated string.
func stringList(x any) []string {
	out := []string{}
	switch v := x.(type) {
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, e := range v {
			if s := strings.TrimSpace(fmt.Sprint(e)); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, v...)
	}
	return out
}

// policyList is a list of policy names as Vault stores them: lower-cased, sorted,
// without duplicates.
func policyList(x any) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, p := range stringList(x) {
		p = strings.ToLower(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// stringMap decodes a map of strings (token metadata).
func stringMap(x any) map[string]string {
	m, ok := x.(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
