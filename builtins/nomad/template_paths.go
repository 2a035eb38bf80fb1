package nomad

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"text/template/parse"

	dep "github.com/hashicorp/consul-template/dependency"
	"github.com/hashicorp/consul-template/template"
)

// vaultAccess is one Vault request a template makes when Nomad renders it, and the
// capability a task token needs for it.
type vaultAccess struct {
	Path string
	Op   string // "read", "update" (secret with k=v args, pkiCert) or "list" (secrets)
}

// verb is how plan notes say what the template does with the path.
func (a vaultAccess) verb() string {
	switch a.Op {
	case "update":
		return "writes"
	case "list":
		return "lists"
	}
	return "reads"
}

// templateVaultAccesses finds the Vault paths a template reads, using consul-template's
// own parser and functions, so that what we check is what Nomad's template runner will
// request. Two passes, because Nomad renders with data we do not have:
//
//  1. the parse tree gives every secret/secrets/pkiCert call whose path is a literal;
//  2. executing the template (with a Brain that answers every dependency with empty
//     placeholder data, round after round, until it asks for nothing new) gives the
//     dependencies consul-template itself reports as Used, including paths computed
//     with printf or env and calls nested inside `with secret` blocks.
//
// A template that does not parse is an error (Nomad would fail to render it too). An
// execution error with placeholder data is not: the paths found so far are returned,
// with the error as a caveat.
//
// env is what the template's env function sees: Nomad renders with the task's
// environment, so a path built from NOMAD_JOB_NAME or a task env var is found as Nomad
// will request it.
func templateVaultAccesses(data, leftDelim, rightDelim string, env []string) (accesses []vaultAccess, caveat string, err error) {
	found := map[vaultAccess]bool{}
	static, err := staticVaultAccesses(data, leftDelim, rightDelim)
	if err != nil {
		return nil, "", err
	}
	brain := template.NewBrain()
	for _, a := range static {
		found[a] = true
		if d := dependencyFor(a); d != nil {
			brain.Remember(d, placeholder(d))
		}
	}

	tmpl, err := template.NewTemplate(&template.NewTemplateInput{
		Contents:   data,
		LeftDelim:  leftDelim,
		RightDelim: rightDelim,
		// Nomad's default client denylist: a preflight must never run a plugin or write
		// a file.
		FunctionDenylist: []string{"plugin", "writeToFile"},
	})
	if err != nil {
		return nil, "", err
	}
	remembered := map[string]bool{}
	for round := 0; round < 10; round++ {
		res, err := tmpl.Execute(&template.ExecuteInput{Brain: brain, Env: env})
		if err != nil {
			caveat = "could not be fully evaluated without Vault's data (" + firstLine(err.Error()) + "); checked the paths it names literally"
			break
		}
		for _, d := range res.Used.List() {
			if a, ok := accessOf(d); ok {
				found[a] = true
			}
		}
		progress := false
		for _, d := range res.Missing.List() {
			if !remembered[d.String()] {
				remembered[d.String()] = true
				if p := placeholder(d); p != nil {
					brain.Remember(d, p)
					progress = true
				}
			}
		}
		if !progress {
			break
		}
	}
	for a := range found {
		accesses = append(accesses, a)
	}
	sort.Slice(accesses, func(i, j int) bool {
		if accesses[i].Path != accesses[j].Path {
			return accesses[i].Path < accesses[j].Path
		}
		return accesses[i].Op < accesses[j].Op
	})
	return accesses, caveat, nil
}

// staticVaultAccesses walks the template's parse tree for calls with a literal path.
func staticVaultAccesses(data, leftDelim, rightDelim string) ([]vaultAccess, error) {
	tree := parse.New("template")
	tree.Mode = parse.SkipFuncCheck | parse.ParseComments
	treeSet := map[string]*parse.Tree{}
	if _, err := tree.Parse(data, leftDelim, rightDelim, treeSet); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var out []vaultAccess
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			if len(n.Args) >= 2 {
				if id, ok := n.Args[0].(*parse.IdentifierNode); ok {
					if s, ok := n.Args[1].(*parse.StringNode); ok {
						if a, ok := literalAccess(id.Ident, s.Text, len(n.Args)-2); ok {
							out = append(out, a)
						}
					}
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		}
	}
	for _, t := range treeSet {
		walk(t.Root)
	}
	return out, nil
}

func literalAccess(fn, path string, extraArgs int) (vaultAccess, bool) {
	path = strings.Trim(strings.TrimSpace(path), "/")
	if path == "" {
		return vaultAccess{}, false
	}
	switch fn {
	case "secret":
		if extraArgs > 0 {
			return vaultAccess{Path: path, Op: "update"}, true
		}
		return vaultAccess{Path: stripQuery(path), Op: "read"}, true
	case "secrets":
		return vaultAccess{Path: path, Op: "list"}, true
	case "pkiCert":
		return vaultAccess{Path: path, Op: "update"}, true
	}
	return vaultAccess{}, false
}

// stripQuery drops "?version=2" from a KV read: the capability is on the path.
func stripQuery(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

var (
	readDep  = regexp.MustCompile(`^vault\.read\((.*?)(\.v[0-9]+)?\)$`)
	writeDep = regexp.MustCompile(`^vault\.write\((.*) -> [0-9a-f]*\)$`)
	listDep  = regexp.MustCompile(`^vault\.list\((.*)\)$`)
	pkiDep   = regexp.MustCompile(`^vault\.pki\((.*)->.*\)$`)
)

// accessOf maps a consul-template dependency to the Vault access it makes. The
// dependency types keep their paths unexported; their String() is their stable identity.
func accessOf(d dep.Dependency) (vaultAccess, bool) {
	s := d.String()
	var m []string
	var op string
	switch d.(type) {
	case *dep.VaultReadQuery:
		m, op = readDep.FindStringSubmatch(s), "read"
	case *dep.VaultWriteQuery:
		m, op = writeDep.FindStringSubmatch(s), "update"
	case *dep.VaultListQuery:
		m, op = listDep.FindStringSubmatch(s), "list"
	case *dep.VaultPKIQuery:
		m, op = pkiDep.FindStringSubmatch(s), "update"
	default:
		return vaultAccess{}, false
	}
	if m == nil || m[1] == "" {
		return vaultAccess{}, false
	}
	return vaultAccess{Path: m[1], Op: op}, true
}

func dependencyFor(a vaultAccess) dep.Dependency {
	var d dep.Dependency
	var err error
	switch a.Op {
	case "read":
		d, err = dep.NewVaultReadQuery(a.Path)
	case "list":
		d, err = dep.NewVaultListQuery(a.Path)
	default:
		return nil // a write's identity includes its data; the execution pass finds it
	}
	if err != nil {
		return nil
	}
	return d
}

// placeholder is empty data of the type consul-template's functions expect, shaped so
// that the usual field paths (.Data.x, .Data.data.x for KV v2) evaluate to nothing
// rather than fail.
func placeholder(d dep.Dependency) any {
	switch d.(type) {
	case *dep.VaultReadQuery, *dep.VaultWriteQuery:
		return &dep.Secret{Data: map[string]any{"data": map[string]any{}, "metadata": map[string]any{}}}
	case *dep.VaultListQuery:
		return []string{}
	}
	return nil // other sources (Consul, Nomad, files) are not our concern here
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
