package nomad

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"go.starlark.net/starlark"
)

// vaultAgentBlocks are the blocks nested in the agent's vault {} stanza, with their
// attributes. Nomad 1.7 added default_identity: the workload identity every task with
// a vault block gets unless its job names one (`nomad setup vault` writes
// default_identity { aud = ["vault.io"] ttl = "1h" }). A script gives one as a dict.
var vaultAgentBlocks = map[string][]string{
	"default_identity": {"aud", "env", "file", "ttl", "extra_claims"},
}

// nestedBlockValues reads the nested blocks of the current vault block (src is the whole
// file: ranges are offsets in it) as objects, so
// they compare with what the script asks exactly as attributes do (literal text).
func nestedBlockValues(body *hclsyntax.Body, src []byte) map[string]agentAttr {
	out := map[string]agentAttr{}
	for _, b := range body.Blocks {
		if _, known := vaultAgentBlocks[b.Type]; !known || len(b.Labels) > 0 {
			continue
		}
		if _, dup := out[b.Type]; dup {
			out[b.Type] = agentAttr{text: "(more than one " + b.Type + " block)"}
			continue
		}
		vals := map[string]cty.Value{}
		ok := len(b.Body.Blocks) == 0
		for name, a := range b.Body.Attributes {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || !v.IsWhollyKnown() {
				ok = false
				continue
			}
			vals[name] = v
		}
		text := strings.TrimSpace(string(b.Range().SliceBytes(src)))
		out[b.Type] = agentAttr{value: cty.ObjectVal(vals), ok: ok, text: text}
	}
	return out
}

// blockValue turns a script's dict for a nested block into an object value.
func (m *module) blockValue(block string, v starlark.Value) (wantAttr, error) {
	if v == starlark.None {
		return wantAttr{remove: true}, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return wantAttr{}, fmt.Errorf("want a dict of its attributes (or None to remove it), not %s", v.Type())
	}
	allowed := vaultAgentBlocks[block]
	vals := map[string]cty.Value{}
	for _, it := range d.Items() {
		k, ok := it[0].(starlark.String)
		if !ok {
			return wantAttr{}, fmt.Errorf("key %s is not a string", it[0])
		}
		if !contains(allowed, string(k)) {
			return wantAttr{}, unknownField(block, string(k), allowed)
		}
		w, err := m.wantValue(it[1], false)
		if err != nil {
			return wantAttr{}, fmt.Errorf("%s: %w", k, err)
		}
		if w.unknown {
			return wantAttr{}, fmt.Errorf("%s: a value known only after apply cannot go in a %s block", k, block)
		}
		if w.remove {
			continue
		}
		vals[string(k)] = w.value
	}
	if len(vals) == 0 {
		return wantAttr{}, fmt.Errorf("an empty %s block: give its attributes, or None to remove it", block)
	}
	return wantAttr{value: cty.ObjectVal(vals)}, nil
}

// setNestedBlock replaces (or, with v nil, removes) a nested block of the vault block,
// writing its attributes in sorted order, as `nomad fmt` leaves them.
func setNestedBlock(body *hclwrite.Body, name string, v *cty.Value) {
	for _, b := range body.Blocks() {
		if b.Type() == name {
			body.RemoveBlock(b)
		}
	}
	if v == nil {
		return
	}
	blk := body.AppendNewBlock(name, nil).Body()
	attrs := v.AsValueMap()
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		blk.SetAttributeValue(k, attrs[k])
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// keepBlocksLast moves the nested blocks after the attributes (hclwrite appends a new
// attribute at the end), so the stanza reads as Nomad's docs write it.
func keepBlocksLast(body *hclwrite.Body) {
	for _, b := range body.Blocks() {
		if _, known := vaultAgentBlocks[b.Type()]; known {
			body.RemoveBlock(b)
			body.AppendBlock(b)
		}
	}
}

// compactLiteral is literal on one line, for a plan's diff: a nested block's object value
// reads {aud = ["vault.io"], ttl = "1h"} there, not as an indented block.
func compactLiteral(v cty.Value) string {
	if !v.Type().IsObjectType() || v.IsNull() || !v.IsKnown() {
		return literal(v)
	}
	attrs := v.AsValueMap()
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + " = " + compactLiteral(attrs[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
