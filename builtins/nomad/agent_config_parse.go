package nomad

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	hcl1 "github.com/hashicorp/hcl"
	hcl1ast "github.com/hashicorp/hcl/hcl/ast"
	hcl1parser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// parseAgentHCL1 parses a whole agent config as Nomad does: with HCL 1, accepting a
// repeated key (older HCL 1 forks have no duplicate-key check; the v1.0.1-vault-7 fork in
// go.mod refuses them by default, so the parser is asked not to). A file
// Nomad could not load is refused here, when it is first read, in plan and in the
// apply's preflight, so that nothing is written (no Vault init, no token minted) and
// no restart runs into a config Nomad cannot decode. The error names file:line:col.
func parseAgentHCL1(src []byte, path string) (*hcl1ast.File, error) {
	f, err := hcl1parser.ParseDontErrorOnDuplicateKeys(src)
	if err == nil {
		return f, topLevelKeys(f, path)
	}
	var pe *hcl1parser.PosError
	if errors.As(err, &pe) && pe.Pos.IsValid() {
		hint := ""
		if strings.HasSuffix(pe.Err.Error(), "got: EOF") {
			// HCL 1 points at the end of the file; say where the open block starts.
			if line := unclosedBlockLine(src, path); line > 0 {
				hint = fmt.Sprintf(" (the block that starts at line %d is not closed)", line)
			}
		}
		return nil, fmt.Errorf("%s:%d:%d: Nomad could not load this agent config (HCL 1): %s%s", path, pe.Pos.Line, pe.Pos.Column, hideSource(pe.Err.Error()), hint)
	}
	return nil, fmt.Errorf("%s: Nomad could not load this agent config (HCL 1): %s", path, hideSource(err.Error()))
}

// nomadTopLevelKeys are the top-level keys of a Nomad agent config (Nomad 1.6 to 1.10).
// Nomad refuses any other ("unexpected keys"), and a stray line parses in HCL 1 as the
// first key of the block after it (`garbage` then `vault {` is one block, garbage.vault),
// which hides that block from Nomad.
var nomadTopLevelKeys = map[string]bool{
	"region": true, "datacenter": true, "name": true, "data_dir": true, "plugin_dir": true,
	"log_level": true, "log_json": true, "log_file": true, "log_include_location": true,
	"log_rotate_duration": true, "log_rotate_bytes": true, "log_rotate_max_files": true,
	"bind_addr": true, "enable_debug": true, "ports": true, "addresses": true, "advertise": true,
	"client": true, "server": true, "acl": true, "audit": true, "telemetry": true,
	"leave_on_interrupt": true, "leave_on_terminate": true, "enable_syslog": true,
	"syslog_facility": true, "disable_update_check": true, "disable_anonymous_signature": true,
	"consul": true, "vault": true, "ui": true, "tls": true, "http_api_response_headers": true,
	"sentinel": true, "autopilot": true, "plugin": true, "limits": true, "reporting": true,
	"keyring": true,
}

var plainKey = regexp.MustCompile(`^[a-z_]{1,40}$`)

// topLevelKeys refuses a top-level key Nomad does not know, at its position. The key is
// named only when it looks like a setting name: a stray line may be a token.
func topLevelKeys(f *hcl1ast.File, path string) error {
	list, ok := f.Node.(*hcl1ast.ObjectList)
	if !ok {
		return nil
	}
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			continue
		}
		k := item.Keys[0]
		name := strings.Trim(k.Token.Text, `"`)
		if nomadTopLevelKeys[name] {
			continue
		}
		what := "an unexpected key"
		if plainKey.MatchString(name) {
			what = fmt.Sprintf("unexpected key %q", name)
		}
		pos := k.Pos()
		return fmt.Errorf("%s:%d:%d: Nomad could not load this agent config: %s (not a Nomad agent setting; a stray line also hides the block after it)", path, pos.Line, pos.Column, what)
	}
	return nil
}

// unclosedBlockLine is the line of the first top-level `name {` whose brace is never
// closed, found with HCL 2's lexer (which tokenizes HCL 1 alike); 0 if none is found.
func unclosedBlockLine(src []byte, path string) int {
	toks, _ := hclsyntax.LexConfig(src, path, hcl.InitialPos)
	depth := 0
	for i, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOBrace:
			if depth == 0 {
				if _, ok := matchingBrace(toks, i); !ok {
					return t.Range.Start.Line
				}
			}
			depth++
		case hclsyntax.TokenCBrace:
			depth--
		}
	}
	return 0
}

var (
	hcl1UnknownToken = regexp.MustCompile(`^Unknown token: \S+ ([A-Z]+) .*$`)
	hcl1Quoted       = regexp.MustCompile(`'[^']*'`)
)

// hideSource drops the source text HCL 1 quotes in its messages ("key 'hvs.…'
// expected ...", "Unknown token: 2:11 IDENT hvs.…"): the broken line may be a token,
// and a token that was never read is not known to the redactor. The position says
// where; the message keeps what was expected.
func hideSource(msg string) string {
	if m := hcl1UnknownToken.FindStringSubmatch(msg); m != nil {
		return "unexpected " + m[1]
	}
	return hcl1Quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if len(q) <= 3 { // '{', '=': what HCL 1 expected, not source text
			return q
		}
		return "(text)"
	})
}

// verifyHCL1 re-reads the file we are about to write as Nomad will, with HCL 1: the
// whole file must parse, and each attribute we set must read back as set (HCL 2's
// writer escapes "${" as "$${", which HCL 1 keeps as written, for one). A file that
// fails this never replaces the old one, and on_change does not run.
func verifyHCL1(data []byte, path string, set map[string]*cty.Value) error {
	f, err := parseAgentHCL1(data, path)
	if err != nil {
		return fmt.Errorf("internal error: the rewritten file would not load: %w", err)
	}
	list, ok := f.Node.(*hcl1ast.ObjectList)
	if !ok {
		return fmt.Errorf("internal error: the rewritten %s is not an HCL object", path)
	}
	blocks := list.Filter("vault").Items
	if len(blocks) != 1 {
		return fmt.Errorf("internal error: the rewritten %s has %d top-level vault blocks for HCL 1, want 1", path, len(blocks))
	}
	var got map[string]any
	if err := hcl1.DecodeObject(&got, blocks[0].Val); err != nil {
		return fmt.Errorf("internal error: HCL 1 cannot decode the rewritten vault block of %s: %v", path, hideSource(err.Error()))
	}
	for name, want := range set {
		have, has := got[name]
		if want == nil {
			if has {
				return fmt.Errorf("internal error: HCL 1 still reads vault.%s in the rewritten %s", name, path)
			}
			continue
		}
		w, comparable := ctyPlain(*want)
		if !comparable {
			continue // nested values are checked by verifyRewrite (HCL 2) only
		}
		a, _ := json.Marshal(have)
		b, _ := json.Marshal(w)
		if !has || string(a) != string(b) {
			return fmt.Errorf("internal error: vault.%s would not read back as written: Nomad reads its agent config with HCL 1, which reads it differently", name)
		}
	}
	return nil
}

// hcl1Writable refuses a string that HCL 2's writer escapes ("${" as "$${", "%{" as
// "%%{") but Nomad's HCL 1 reads as written: the file would say something else than
// asked. The value is not quoted (it may be a token).
func hcl1Writable(s string) error {
	if strings.Contains(s, "${") || strings.Contains(s, "%{") {
		return errors.New(`contains "${" or "%{", which nvrun cannot write so that Nomad's HCL 1 reads it back as given`)
	}
	return nil
}

// replaceVerified replaces the agent config with data (atomically, writeAtomic) only if
// Nomad's HCL 1 loads data and reads back what was set (verifyHCL1); otherwise the old
// file stays as it was. on_change runs only after this succeeded.
func (ac *agentConfig) replaceVerified(data []byte, set map[string]*cty.Value, mode fs.FileMode) error {
	if err := verifyHCL1(data, ac.path, set); err != nil {
		return err
	}
	if err := ac.writeAtomic(data, mode); err != nil {
		return fmt.Errorf("write %s: %w", ac.path, err)
	}
	return nil
}

// ctyPlain is v as HCL 1 decodes it into an interface{}, for a string, bool, whole
// number or list of those; ok is false for anything else.
func ctyPlain(v cty.Value) (any, bool) {
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil, false
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString(), true
	case t == cty.Bool:
		return v.True(), true
	case t == cty.Number:
		f := v.AsBigFloat()
		if !f.IsInt() {
			return nil, false
		}
		i, _ := f.Int64()
		return i, true
	case t.IsTupleType() || t.IsListType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			p, ok := ctyPlain(e)
			if !ok {
				return nil, false
			}
			out = append(out, p)
		}
		return out, true
	}
	return nil, false
}
