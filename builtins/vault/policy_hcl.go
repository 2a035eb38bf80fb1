package vault

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	hcl1 "github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// capabilityOrder is every capability a policy may grant, in the order plans show them.
var capabilityOrder = []string{"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe"}

var capabilityRank = func() map[string]int {
	m := map[string]int{}
	for i, c := range capabilityOrder {
		m[c] = i
	}
	return m
}()

// legacyPolicies are the old `policy = "..."` shorthands, expanded as Vault does.
var legacyPolicies = map[string][]string{
	"deny":  {"deny"},
	"read":  {"read", "list"},
	"write": {"create", "read", "update", "delete", "list"},
	"sudo":  {"create", "read", "update", "delete", "list", "sudo"},
}

// pathKeys are the attributes Vault accepts in a path block.
var pathKeys = map[string]bool{
	"comment": true, "policy": true, "capabilities": true, "allowed_parameters": true,
	"denied_parameters": true, "required_parameters": true, "min_wrapping_ttl": true,
	"max_wrapping_ttl": true, "mfa_methods": true, "control_group": true, "subscribe_event_types": true,
}

// pathRule is what one path pattern of a policy grants, in a form where equal meaning
// compares equal: capabilities as a sorted set, other attributes as canonical JSON.
type pathRule struct {
	caps  []string
	extra string
}

// policyRules is a parsed policy: path pattern -> rule, and the patterns in order.
type policyRules struct {
	order []string
	paths map[string]*pathRule
}

// parsePolicy parses policy text as Vault does: HCL 1 (or its JSON form), with Vault's
// keys, its capability names and its legacy shorthands. Comparing two parses, rather
// than two texts, makes formatting and comments irrelevant.
func parsePolicy(src string) (*policyRules, error) {
	root, err := hcl1.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("policy does not parse: %w", err)
	}
	list, ok := root.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("policy does not parse: no root object")
	}
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			continue
		}
		if k, _ := item.Keys[0].Token.Value().(string); k != "path" && k != "name" {
			return nil, fmt.Errorf("policy: unknown top-level key %q (want path blocks)", k)
		}
	}
	rules := &policyRules{paths: map[string]*pathRule{}}
	for _, item := range list.Filter("path").Items {
		if len(item.Keys) == 0 {
			return nil, fmt.Errorf("policy: a path block has no path")
		}
		p, _ := item.Keys[0].Token.Value().(string)
		p = strings.TrimPrefix(p, "/")
		var body map[string]any
		if err := hcl1.DecodeObject(&body, item.Val); err != nil {
			return nil, fmt.Errorf("policy: path %q: %w", p, err)
		}
		rule, err := pathRuleOf(p, body)
		if err != nil {
			return nil, err
		}
		if prev, dup := rules.paths[p]; dup {
			// Vault merges repeated paths: the union of capabilities, deny winning.
			prev.caps = normaliseCaps(append(prev.caps, rule.caps...))
			if rule.extra != "" {
				prev.extra = strings.Trim(prev.extra+"; "+rule.extra, "; ")
			}
			continue
		}
		rules.order = append(rules.order, p)
		rules.paths[p] = rule
	}
	return rules, nil
}

func pathRuleOf(p string, body map[string]any) (*pathRule, error) {
	var caps []string
	extra := map[string]any{}
	for k, val := range body {
		if !pathKeys[k] {
			return nil, fmt.Errorf("policy: path %q: unknown key %q", p, k)
		}
		switch k {
		case "capabilities":
			list, ok := val.([]any)
			if !ok {
				return nil, fmt.Errorf("policy: path %q: capabilities must be a list", p)
			}
			for _, c := range list {
				s, ok := c.(string)
				if !ok {
					return nil, fmt.Errorf("policy: path %q: capabilities must be strings", p)
				}
				caps = append(caps, s)
			}
		case "policy":
			s, _ := val.(string)
			expanded, ok := legacyPolicies[s]
			if !ok {
				return nil, fmt.Errorf("policy: path %q: invalid policy %q", p, s)
			}
			caps = append(caps, expanded...)
		case "comment":
		default:
			extra[k] = val
		}
	}
	for _, c := range caps {
		if _, ok := capabilityRank[c]; !ok {
			return nil, invalidCapability(p, c)
		}
	}
	rule := &pathRule{caps: normaliseCaps(caps)}
	if len(extra) > 0 {
		b, err := json.Marshal(extra) // map keys sorted: canonical
		if err != nil {
			return nil, fmt.Errorf("policy: path %q: %w", p, err)
		}
		rule.extra = string(b)
	}
	return rule, nil
}

func invalidCapability(path, c string) error {
	return fmt.Errorf("path %q: invalid capability %q (valid: %s)", path, c, strings.Join(capabilityOrder, ", "))
}

// normaliseCaps sorts and dedupes capabilities; deny stands alone, as in Vault.
func normaliseCaps(caps []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range caps {
		if c == "deny" {
			return []string{"deny"}
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return capabilityRank[out[i]] < capabilityRank[out[j]] })
	return out
}

// renderPolicy renders a script's dict {path: [capabilities]} (or {path: {"capabilities":
// [...], other attributes}}) as HCL with hclwrite, in the dict's order, never by string
// concatenation (quoting and escaping are hclwrite's). Capability names are checked here
// so the error names the bad one and its path.
func renderPolicy(d *starlark.Dict) (string, error) {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	for i, item := range d.Items() {
		path, ok := starlark.AsString(item[0])
		if !ok {
			return "", fmt.Errorf("rules: path %s is not a string", item[0])
		}
		// hclwrite escapes "${" and "%{" as HCL 2 does ("$${"), but Vault reads policies
		// with HCL 1, which would take the escape literally: refuse rather than write a
		// policy for a different path.
		if strings.Contains(path, "${") || strings.Contains(path, "%{") {
			return "", fmt.Errorf("rules: path %q contains a template sequence that Vault's HCL 1 parser reads differently; pass this policy as an HCL string", path)
		}
		caps, extra, err := pathSpec(path, item[1])
		if err != nil {
			return "", err
		}
		if i > 0 {
			body.AppendNewline()
		}
		blk := body.AppendNewBlock("path", []string{path}).Body()
		capVals := make([]cty.Value, len(caps))
		for j, c := range caps {
			if _, ok := capabilityRank[c]; !ok {
				return "", invalidCapability(path, c)
			}
			capVals[j] = cty.StringVal(c)
		}
		if len(capVals) == 0 {
			blk.SetAttributeValue("capabilities", cty.ListValEmpty(cty.String))
		} else {
			blk.SetAttributeValue("capabilities", cty.ListVal(capVals))
		}
		for _, k := range runtime.SortedKeys(extra) {
			if !pathKeys[k] || k == "capabilities" {
				return "", fmt.Errorf("path %q: unknown key %q", path, k)
			}
			val, err := toCty(extra[k])
			if err != nil {
				return "", fmt.Errorf("path %q: %s: %w", path, k, err)
			}
			blk.SetAttributeValue(k, val)
		}
	}
	// Not hclwrite.Format: the builder's output is already indented, and Format's
	// re-lexing (to align "=" across sibling attributes) was most of the cost of
	// rendering a policy.
	return string(f.Bytes()), nil
}

// pathSpec unpacks one dict value: a list of capabilities, or a dict with
// "capabilities" and further path attributes (allowed_parameters, ...).
func pathSpec(path string, v starlark.Value) ([]string, map[string]any, error) {
	if d, ok := v.(*starlark.Dict); ok {
		g, err := runtime.ToGo(d)
		if err != nil {
			return nil, nil, fmt.Errorf("path %q: %w", path, err)
		}
		m := g.(map[string]any)
		var caps []string
		if raw, ok := m["capabilities"]; ok {
			list, ok := raw.([]any)
			if !ok {
				return nil, nil, fmt.Errorf("path %q: capabilities: want a list of strings", path)
			}
			for _, c := range list {
				s, ok := c.(string)
				if !ok {
					return nil, nil, fmt.Errorf("path %q: capabilities: want a list of strings", path)
				}
				caps = append(caps, s)
			}
			delete(m, "capabilities")
		}
		return caps, m, nil
	}
	caps, err := runtime.StringList(v)
	if err != nil {
		return nil, nil, fmt.Errorf("path %q: capabilities: %w", path, err)
	}
	return caps, nil, nil
}

// toCty converts plain data (from runtime.ToGo) to a cty value for hclwrite.
func toCty(x any) (cty.Value, error) {
	switch x := x.(type) {
	case string:
		return cty.StringVal(x), nil
	case bool:
		return cty.BoolVal(x), nil
	case int64:
		return cty.NumberIntVal(x), nil
	case float64:
		return cty.NumberFloatVal(x), nil
	case []any:
		if len(x) == 0 {
			return cty.EmptyTupleVal, nil
		}
		vals := make([]cty.Value, len(x))
		for i, e := range x {
			v, err := toCty(e)
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = v
		}
		return cty.TupleVal(vals), nil
	case map[string]any:
		if len(x) == 0 {
			return cty.EmptyObjectVal, nil
		}
		vals := make(map[string]cty.Value, len(x))
		for k, e := range x {
			v, err := toCty(e)
			if err != nil {
				return cty.NilVal, err
			}
			vals[k] = v
		}
		return cty.ObjectVal(vals), nil
	}
	return cty.NilVal, fmt.Errorf("unsupported value %v", x)
}

// diffPolicy is the plan diff from live to desired, per path and capability set.
func diffPolicy(live, desired *policyRules) []runtime.DiffLine {
	var diff []runtime.DiffLine
	for _, p := range desired.order {
		want := desired.paths[p]
		key := "path " + strconv.Quote(p) // as fmt's %q, without fmt
		have, ok := live.paths[p]
		switch {
		case !ok:
			diff = append(diff, runtime.DiffLine{Op: "+", Key: key, After: capsText(want.caps)})
		case !equalStrings(have.caps, want.caps):
			diff = append(diff, runtime.DiffLine{Op: "~", Key: key, Before: capsText(have.caps), After: capsText(want.caps)})
		}
		if ok && have.extra != want.extra {
			diff = append(diff, runtime.DiffLine{Op: "~", Key: key + " parameters", Before: orNone(have.extra), After: orNone(want.extra)})
		}
	}
	var gone []string
	for p := range live.paths {
		if _, ok := desired.paths[p]; !ok {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	for _, p := range gone {
		diff = append(diff, runtime.DiffLine{Op: "-", Key: "path " + strconv.Quote(p), Before: capsText(live.paths[p].caps)})
	}
	return diff
}

func capsText(caps []string) string { return "[" + strings.Join(caps, ", ") + "]" }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
