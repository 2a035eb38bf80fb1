package nomadtest

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// Constraint operands, as nomad/structs names them.
const (
	opDistinctHosts    = "distinct_hosts"
	opDistinctProperty = "distinct_property"
	opRegex            = "regexp"
	opVersion          = "version"
	opSemver           = "semver"
	opSetContains      = "set_contains"
	opSetContainsAll   = "set_contains_all"
	opSetContainsAny   = "set_contains_any"
	opIsSet            = "is_set"
	opIsNotSet         = "is_not_set"
)

// constraintString is Nomad's Constraint.String(), the key of AllocationMetric's
// ConstraintFiltered map.
func constraintString(c *api.Constraint) string {
	return c.LTarget + " " + c.Operand + " " + c.RTarget
}

// resolveTarget is the scheduler's resolveTarget for the double's node.
func (s *Server) resolveTarget(target string, attrs map[string]string) (string, bool) {
	if !strings.HasPrefix(target, "${") {
		return target, true
	}
	switch target {
	case "${node.unique.id}":
		return s.node.ID, true
	case "${node.datacenter}":
		return s.node.Datacenter, true
	case "${node.unique.name}":
		return s.node.Name, true
	case "${node.class}":
		return "", true
	case "${node.pool}":
		return "default", true
	case "${node.region}":
		return s.node.Region, true
	}
	if attr, ok := strings.CutPrefix(target, "${attr."); ok {
		v, found := attrs[strings.TrimSuffix(attr, "}")]
		return v, found
	}
	// The node has no meta.
	return "", false
}

// constraintMet reports whether the node satisfies c. Distinct hosts and distinct
// property are satisfied trivially: the double has one node and never spreads.
func (s *Server) constraintMet(c *api.Constraint, attrs map[string]string) bool {
	switch c.Operand {
	case opDistinctHosts, opDistinctProperty:
		return true
	}
	l, lok := s.resolveTarget(c.LTarget, attrs)
	r, rok := s.resolveTarget(c.RTarget, attrs)
	switch c.Operand {
	case "=", "==", "is":
		return lok && rok && l == r
	case "!=", "not":
		return l != r || lok != rok
	case "<", "<=", ">", ">=":
		if !lok || !rok {
			return false
		}
		switch c.Operand {
		case "<":
			return l < r
		case "<=":
			return l <= r
		case ">":
			return l > r
		default:
			return l >= r
		}
	case opIsSet:
		return lok
	case opIsNotSet:
		return !lok
	case opVersion, opSemver:
		return lok && rok && versionMatches(l, r)
	case opRegex:
		if !lok || !rok {
			return false
		}
		re, err := regexp.Compile(r)
		return err == nil && re.MatchString(l)
	case opSetContains, opSetContainsAll:
		if !lok || !rok {
			return false
		}
		have := splitSet(l)
		for want := range splitSet(r) {
			if !have[want] {
				return false
			}
		}
		return true
	case opSetContainsAny:
		if !lok || !rok {
			return false
		}
		have := splitSet(l)
		for want := range splitSet(r) {
			if have[want] {
				return true
			}
		}
		return false // none of the wanted values is present
	}
	return false
}

func splitSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		out[strings.TrimSpace(p)] = true
	}
	return out
}

// versionMatches checks a version against a go-version style constraint list such
// as ">= 0.6.1" or "> 1.2, < 2.0".
func versionMatches(version, constraint string) bool {
	v, ok := parseVersion(version)
	if !ok {
		return false
	}
	for _, clause := range strings.Split(constraint, ",") {
		clause = strings.TrimSpace(clause)
		op := "="
		for _, candidate := range []string{">=", "<=", "!=", "~>", ">", "<", "="} {
			if rest, found := strings.CutPrefix(clause, candidate); found {
				op, clause = candidate, strings.TrimSpace(rest)
				break
			}
		}
		want, ok := parseVersion(clause)
		if !ok {
			return false
		}
		cmp := compareVersions(v, want)
		var met bool
		switch op {
		case "=":
			met = cmp == 0
		case "!=":
			met = cmp != 0
		case ">":
			met = cmp > 0
		case ">=":
			met = cmp >= 0
		case "<":
			met = cmp < 0
		case "<=":
			met = cmp <= 0
		case "~>":
			// Pessimistic: >= want, and below the next release of the second-to-last
			// given segment.
			met = cmp >= 0
			if n := strings.Count(clause, "."); met && n > 0 {
				upper := append([]int(nil), want[:n]...)
				upper[n-1]++
				met = compareVersions(v[:min(len(v), n)], upper) < 0
			}
		}
		if !met {
			return false
		}
	}
	return true
}

func parseVersion(s string) ([]int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return nil, false
	}
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func compareVersions(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
