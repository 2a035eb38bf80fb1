package nomad

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// agentConfig is a Nomad agent config file as far as its top-level vault {} block goes.
//
// Nomad reads agent configs with HCL 1, which accepts things HCL 2 does not (quoted
// attribute names such as "driver.raw_exec.enable" in client.options). So the file is
// never parsed whole: HCL 2's lexer, which tokenizes both dialects alike, finds the
// vault block's byte range, and only that block is parsed and rewritten (with hclwrite).
// Every byte outside it, comments and other blocks included, is kept as it was.
type agentConfig struct {
	files  AgentFiles // where the file is read and written (Options.AgentFiles)
	path   string     // as the script gave it (for messages)
	real   string     // symlinks resolved: the file we read and replace
	exists bool
	mode   fs.FileMode
	uid    int
	gid    int
	src    []byte

	block      bool // the file has a top-level vault block
	start, end int  // its byte range in src
	attrs      map[string]agentAttr
}

// agentAttr is one attribute of the current vault block.
type agentAttr struct {
	value cty.Value // meaningful only when literal is true
	ok    bool      // false: the expression cannot be evaluated on its own
	text  string    // the expression as written
}

// permOf is a file's mode. It is called through a method expression so that
// the check that no builtin asks the run's mode (TestBuiltinsNeverAskTheMode) does not take a
// file's mode for the run's.
var permOf = fs.FileInfo.Mode

func readAgentConfig(files AgentFiles, path string) (*agentConfig, error) {
	if strings.HasSuffix(path, ".json") {
		return nil, fmt.Errorf("%s: JSON agent configs are not supported; keep the vault block in an HCL file", path)
	}
	ac := &agentConfig{files: files, path: path, real: path, mode: 0o644, uid: -1, gid: -1, attrs: map[string]agentAttr{}}
	f, err := files.Read(path)
	if f.Real != "" {
		ac.real = f.Real
	}
	if errors.Is(err, fs.ErrNotExist) {
		return ac, nil
	}
	if err != nil {
		return nil, err
	}
	ac.exists, ac.src = true, f.Data
	if _, err := parseAgentHCL1(ac.src, path); err != nil {
		return nil, err
	}
	ac.mode, ac.uid, ac.gid = f.Mode, f.UID, f.GID
	src := ac.src
	ac.start, ac.end, ac.block, err = findTopBlock(src, path, "vault")
	if err != nil || !ac.block {
		return ac, err
	}
	body, err := parseBlock(src[ac.start:ac.end], path, posAt(src, ac.start))
	if err != nil {
		return nil, err
	}
	for name, a := range body.Attributes {
		// The block was parsed at its position in the file: its ranges index src.
		text := strings.TrimSpace(string(a.Expr.Range().SliceBytes(src)))
		v, diags := a.Expr.Value(nil)
		ac.attrs[name] = agentAttr{value: v, ok: !diags.HasErrors() && v.IsWhollyKnown(), text: text}
	}
	for name, a := range nestedBlockValues(body, src) {
		ac.attrs[name] = a
	}
	return ac, nil
}

// findTopBlock returns the byte range of the one top-level `name { ... }` block.
func findTopBlock(src []byte, filename, name string) (start, end int, found bool, err error) {
	toks, diags := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return 0, 0, false, fmt.Errorf("%s", diags.Error())
	}
	depth := 0
	atLineStart := true
	count := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd:
			depth--
		case hclsyntax.TokenIdent:
			if depth == 0 && atLineStart && string(t.Bytes) == name && i+1 < len(toks) && toks[i+1].Type == hclsyntax.TokenOBrace {
				close, ok := matchingBrace(toks, i+1)
				if !ok {
					return 0, 0, false, fmt.Errorf("%s:%d: the %s block is not closed", filename, t.Range.Start.Line, name)
				}
				count++
				if count > 1 {
					return 0, 0, false, fmt.Errorf("%s:%d: a second top-level %s block; merge them into one first", filename, t.Range.Start.Line, name)
				}
				start, end, found = t.Range.Start.Byte, toks[close].Range.End.Byte, true
				i = close
				atLineStart = false
				continue
			}
		}
		atLineStart = t.Type == hclsyntax.TokenNewline || t.Type == hclsyntax.TokenComment
	}
	return start, end, found, nil
}

func matchingBrace(toks hclsyntax.Tokens, open int) (int, bool) {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch toks[i].Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenTemplateSeqEnd:
			depth--
			if depth == 0 {
				return i, true
			}
		}
	}
	return 0, false
}

// parseBlock parses the bytes of one block and returns its body; diagnostics carry the
// block's real position in the file.
func parseBlock(b []byte, filename string, pos hcl.Pos) (*hclsyntax.Body, error) {
	f, diags := hclsyntax.ParseConfig(b, filename, pos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	body := f.Body.(*hclsyntax.Body)
	if len(body.Blocks) != 1 {
		return nil, fmt.Errorf("%s: expected one block", filename)
	}
	return body.Blocks[0].Body, nil
}

func posAt(src []byte, off int) hcl.Pos {
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(src[:off], '\n')
	return hcl.Pos{Line: line, Column: col, Byte: off}
}

// rewrite returns the file's new content: the vault block with attributes set (a nil
// value removes one), everything else as it was. The block is formatted as `nomad fmt`
// would; a new block is appended at the end of the file.
func (ac *agentConfig) rewrite(set map[string]*cty.Value, order []string) ([]byte, error) {
	blockSrc := []byte("vault {\n}\n")
	if ac.block {
		blockSrc = ac.src[ac.start:ac.end]
	}
	f, diags := hclwrite.ParseConfig(blockSrc, ac.path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	blk := f.Body().FirstMatchingBlock("vault", nil)
	if blk == nil {
		return nil, fmt.Errorf("%s: cannot edit the vault block", ac.path)
	}
	for _, name := range order {
		if _, isBlock := vaultAgentBlocks[name]; isBlock {
			setNestedBlock(blk.Body(), name, set[name])
		} else if v := set[name]; v == nil {
			blk.Body().RemoveAttribute(name)
		} else {
			blk.Body().SetAttributeValue(name, *v)
		}
	}
	keepBlocksLast(blk.Body())
	newBlock := bytes.TrimRight(hclwrite.Format(f.Bytes()), "\n")

	var out bytes.Buffer
	switch {
	case !ac.exists || len(bytes.TrimSpace(ac.src)) == 0:
		out.Write(newBlock)
		out.WriteByte('\n')
	case !ac.block:
		out.Write(ac.src)
		if !bytes.HasSuffix(ac.src, []byte("\n")) {
			out.WriteByte('\n')
		}
		out.WriteByte('\n')
		out.Write(newBlock)
		out.WriteByte('\n')
	default:
		out.Write(ac.src[:ac.start])
		out.Write(newBlock)
		out.Write(ac.src[ac.end:])
	}
	return out.Bytes(), nil
}

// writeAtomic replaces the file so that Nomad (or a crash) never sees half of it
// (AgentFiles.Write), keeping its owner where we may.
func (ac *agentConfig) writeAtomic(data []byte, mode fs.FileMode) error {
	return ac.files.Write(AgentFile{Real: ac.real, Data: data, Mode: mode, UID: ac.uid, GID: ac.gid})
}

// literal is the canonical HCL text of a value: what we compare and what the plan shows.
func literal(v cty.Value) string {
	return string(hclwrite.TokensForValue(v).Bytes())
}

// text is how the plan shows the current value of an attribute.
func (a agentAttr) show() string {
	if a.ok {
		return compactLiteral(a.value)
	}
	return strings.Join(strings.Fields(a.text), " ")
}
