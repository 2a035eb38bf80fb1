package nomad

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// vaultAgentAttrs are the attributes of the agent's vault {} stanza (Nomad 1.6, plus
// the two later releases added), so that a misspelled one is an error, not a silently
// ignored line in the config.
var vaultAgentAttrs = []string{
	"enabled", "address", "token", "create_from_role", "task_token_ttl", "namespace",
	"allow_unauthenticated", "ca_file", "ca_path", "cert_file", "key_file", "tls_server_name",
	"tls_skip_verify", "name", "jwt_auth_backend_path", "default_identity",
}

// nomad.agent_config(path, vault={...}, on_change=[argv]) makes the vault {} block of a
// Nomad agent config file say what the script asks (guide step 7).
//
// It reads the local file in every mode (offline too: a local file is not a server),
// and compares attribute by attribute with the current block. Equal: Unchanged, and the
// file is not touched. Otherwise the plan shows each attribute's change, the token always
// as (sensitive), and apply rewrites the block in place (agent_config_file.go): the rest
// of the file stays byte for byte, the write is atomic, and the file is 0600 whenever it
// holds a token. An attribute given as None or "" is removed; attributes not given are
// left as they are.
//
// on_change (e.g. ["systemctl", "restart", "nomad"]) runs only in apply and only when
// the file's content really changed: Nomad reads its config at start, and a restart
// that changes nothing is a needless outage.
//
// Returns struct(path, changed).
func (m *module) agentConfigBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var vaultD *starlark.Dict
	var onChange starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path, "vault", &vaultD, "on_change?", &onChange); err != nil {
		return nil, err
	}
	argv, err := runtime.StringList(onChange)
	if err != nil {
		return nil, fmt.Errorf("%s: on_change: %w", fn.Name(), err)
	}
	if onChange != starlark.None && len(argv) == 0 {
		return nil, fmt.Errorf("%s: on_change: give a command as a list, e.g. [\"systemctl\", \"restart\", \"nomad\"]", fn.Name())
	}
	want, order, err := m.desiredVault(fn.Name(), vaultD)
	if err != nil {
		return nil, err
	}
	ac, err := readAgentConfig(m.files(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	addr := fmt.Sprintf("nomad agent_config %q", path)

	var diff []runtime.DiffLine
	set := map[string]*cty.Value{} // what apply writes: nil removes
	var setOrder []string
	var changed []string
	for _, name := range order {
		d := want[name]
		cur, has := ac.attrs[name]
		show := func(s string) string {
			if name == "token" {
				return runtime.Redacted
			}
			return s
		}
		key := "vault." + name
		switch {
		case d.remove:
			if has {
				diff = append(diff, runtime.DiffLine{Op: "-", Key: key, Before: show(cur.show())})
				set[name], changed, setOrder = nil, append(changed, name), append(setOrder, name)
			}
		case d.unknown:
			after := "(known after apply)"
			if has {
				diff = append(diff, runtime.DiffLine{Op: "~", Key: key, Before: show(cur.show()), After: after})
			} else {
				diff = append(diff, runtime.DiffLine{Op: "+", Key: key, After: after})
			}
			changed = append(changed, name)
		case has && cur.ok && literal(cur.value) == literal(d.value):
			// equal: nothing to write
		default:
			if has {
				diff = append(diff, runtime.DiffLine{Op: "~", Key: key, Before: show(cur.show()), After: show(compactLiteral(d.value))})
			} else {
				diff = append(diff, runtime.DiffLine{Op: "+", Key: key, After: show(compactLiteral(d.value))})
			}
			v := d.value
			set[name], changed, setOrder = &v, append(changed, name), append(setOrder, name)
		}
	}

	// A token in a world-readable file is a leak, whether we write it or find it there.
	holdsToken := false
	if d, given := want["token"]; given {
		holdsToken = !d.remove
	} else if cur, has := ac.attrs["token"]; has {
		holdsToken = cur.text != `""`
	}
	mode := ac.mode
	if holdsToken {
		mode = 0o600
	}
	modeChange := ac.exists && mode != ac.mode
	if modeChange {
		diff = append(diff, runtime.DiffLine{Op: "~", Key: "mode", Before: fmt.Sprintf("%04o", ac.mode), After: fmt.Sprintf("%04o", mode)})
	}

	result := func(changed bool) starlark.Value {
		return runtime.Struct(starlark.StringDict{"path": starlark.String(path), "changed": starlark.Bool(changed)})
	}
	ch := runtime.Change{Action: runtime.Unchanged, Summary: "vault {} block", Planned: result(false)}
	if len(changed) > 0 || modeChange {
		ch = runtime.Change{Action: runtime.Update, Summary: fmt.Sprintf("vault {} block: %s", runtime.Plural(len(changed), "attribute")+" to change"),
			Diff: diff, Planned: result(true)}
		switch {
		case !ac.exists:
			ch.Action, ch.Summary = runtime.Create, fmt.Sprintf("new file, vault {} block with %s", runtime.Plural(len(changed), "attribute"))
		case !ac.block:
			ch.Action, ch.Summary = runtime.Create, fmt.Sprintf("new vault {} block with %s", runtime.Plural(len(changed), "attribute"))
		case len(changed) == 0:
			ch.Summary = fmt.Sprintf("mode %04o (the file holds a token)", mode)
		}
		if len(argv) > 0 && len(changed) > 0 {
			ch.Notes = append(ch.Notes, "then runs: "+strings.Join(argv, " "))
		}
	}
	var pending runtime.Unread
	if len(changed) > 0 {
		// Until apply, Nomad runs with the old config: nomad.run says so when Nomad
		// refuses a job only for that ("Vault not enabled but used in the job").
		pending = runtime.Unread(addr)
	}
	return m.run.Converge(thread, runtime.Resource{
		Server:    m.server,
		Address:   addr,
		Unblocked: true, // a local file: another pending agent config change does not block it
		Read: func(context.Context) (any, runtime.Fingerprint, error) {
			if !ac.block {
				return nil, "", nil // an untyped nil: absent
			}
			return ac, ac.fingerprint(), nil
		},
		// The file was read above, in every mode: a local file is not a server.
		Diff: func(runtime.Live) runtime.Change { return ch },
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			if len(changed) == 0 {
				return result(true), m.files().Chmod(ac.real, mode)
			}
			if len(setOrder) != len(changed) {
				return nil, fmt.Errorf("a vault attribute is still unknown at apply")
			}
			data, err := ac.rewrite(set, setOrder)
			if err != nil {
				return nil, err
			}
			if err := verifyRewrite(data, path, set); err != nil {
				return nil, err
			}
			if err := ac.replaceVerified(data, set, mode); err != nil {
				return nil, err
			}
			if err := m.restart(ctx, argv, path); err != nil {
				return nil, fmt.Errorf("the vault block of %s was written, but %w", path, err)
			}
			return result(true), nil
		},
		Delete: func(ctx context.Context) error {
			cur, err := readAgentConfig(m.files(), path)
			if err != nil || !cur.block {
				return err
			}
			if err := cur.writeAtomic(withoutRange(cur.src, cur.start, cur.end), cur.mode); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			if err := m.restart(ctx, argv, path); err != nil {
				return fmt.Errorf("the vault block of %s was removed, but %w", path, err)
			}
			return nil
		},
		Pending: pending,
	})
}

// restart runs on_change, if given, after the file changed. The next nomad call then
// waits for the restarted agent (and its leader), not trusting an answer from before.
func (m *module) restart(ctx context.Context, argv []string, path string) error {
	if len(argv) == 0 {
		return nil
	}
	err := m.runOnChange(ctx, argv, path)
	m.probed, m.restarted = false, true
	m.server.Patience(m.reachWait(90 * time.Second))
	return err
}

// fingerprint is a hash of the vault block's attributes as written.
func (ac *agentConfig) fingerprint() runtime.Fingerprint {
	attrs := make(map[string]string, len(ac.attrs))
	for name, a := range ac.attrs {
		attrs[name] = a.text
		if a.ok {
			attrs[name] = literal(a.value)
		}
	}
	return runtime.HashFingerprint(attrs)
}

// withoutRange is src without src[start:end] and the line break that ends it.
func withoutRange(src []byte, start, end int) []byte {
	if end < len(src) && src[end] == '\n' {
		end++
	}
	out := append([]byte(nil), src[:start]...)
	return append(out, src[end:]...)
}

// wantAttr is one attribute the script asks for.
type wantAttr struct {
	value   cty.Value
	remove  bool // None or "": no such attribute
	unknown bool // known only after apply (a token minted in this run, in a plan)
}

// desiredVault reads vault = {...}, in the script's order (new attributes are written in
// that order, so the block reads like the guide's).
func (m *module) desiredVault(where string, d *starlark.Dict) (map[string]wantAttr, []string, error) {
	want := map[string]wantAttr{}
	var order []string
	known := map[string]bool{}
	for _, n := range vaultAgentAttrs {
		known[n] = true
	}
	for _, it := range d.Items() {
		k, ok := it[0].(starlark.String)
		if !ok {
			return nil, nil, fmt.Errorf("%s: vault: key %s is not a string", where, it[0])
		}
		name := string(k)
		if !known[name] {
			return nil, nil, unknownField(where+" vault", name, vaultAgentAttrs)
		}
		var w wantAttr
		var err error
		if _, isBlock := vaultAgentBlocks[name]; isBlock {
			w, err = m.blockValue(name, it[1])
		} else {
			w, err = m.wantValue(it[1], name == "token")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: vault.%s: %w", where, name, err)
		}
		want[name] = w
		order = append(order, name)
	}
	return want, order, nil
}

func (m *module) wantValue(v starlark.Value, sensitive bool) (wantAttr, error) {
	var str runtime.SecretArg
	if str.Unpack(v) == nil {
		switch {
		case str.IsUnknown():
			return wantAttr{unknown: true}, nil // a token minted in this run, in a plan
		case str.Value == "":
			return wantAttr{remove: true}, nil
		case sensitive:
			m.run.Secret(str.Value) // a token given as a plain string is still a token
		}
		if err := hcl1Writable(str.Value); err != nil {
			return wantAttr{}, err
		}
		return wantAttr{value: cty.StringVal(str.Value)}, nil
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return wantAttr{remove: true}, nil
	case starlark.Bool:
		return wantAttr{value: cty.BoolVal(bool(v))}, nil
	case starlark.Int:
		i, ok := v.Int64()
		if !ok {
			return wantAttr{}, fmt.Errorf("%s is out of range", v)
		}
		return wantAttr{value: cty.NumberIntVal(i)}, nil
	case *starlark.List, starlark.Tuple:
		ss, err := runtime.StringList(v)
		if err != nil {
			return wantAttr{}, err
		}
		vals := make([]cty.Value, len(ss))
		for i, s := range ss {
			if err := hcl1Writable(s); err != nil {
				return wantAttr{}, err
			}
			vals[i] = cty.StringVal(s)
		}
		return wantAttr{value: cty.TupleVal(vals)}, nil
	}
	return wantAttr{}, fmt.Errorf("want a string, bool, number or list of strings, not %s", v.Type())
}

// verifyRewrite re-reads the block we are about to write: a config we cannot read back
// as asked must not replace a working one.
func verifyRewrite(data []byte, path string, set map[string]*cty.Value) error {
	start, end, found, err := findTopBlock(data, path, "vault")
	if err != nil || !found {
		return fmt.Errorf("internal error: the rewritten %s has no readable vault block (%v)", path, err)
	}
	body, err := parseBlock(data[start:end], path, posAt(data, start))
	if err != nil {
		return fmt.Errorf("internal error: the rewritten vault block does not parse: %w", err)
	}
	blocks := nestedBlockValues(body, data)
	for name, want := range set {
		if _, isBlock := vaultAgentBlocks[name]; isBlock {
			got, has := blocks[name]
			switch {
			case want == nil && has:
				return fmt.Errorf("internal error: the vault.%s block was not removed", name)
			case want != nil && (!has || !got.ok || literal(got.value) != literal(*want)):
				return fmt.Errorf("internal error: the vault.%s block does not read back as written", name)
			}
			continue
		}
		a, has := body.Attributes[name]
		if want == nil {
			if has {
				return fmt.Errorf("internal error: vault.%s was not removed", name)
			}
			continue
		}
		if !has {
			return fmt.Errorf("internal error: vault.%s was not written", name)
		}
		got, diags := a.Expr.Value(nil)
		if diags.HasErrors() || literal(got) != literal(*want) {
			return fmt.Errorf("internal error: vault.%s does not read back as written", name)
		}
	}
	return nil
}

// runOnChange runs the on_change command (a restart, typically). Its output is shown
// only on failure, and through the redactor: a restart script may echo its config.
// It gets onChangeEnv, not nvrun's environment: that holds VAULT_TOKEN and NOMAD_TOKEN.
func (m *module) runOnChange(ctx context.Context, argv []string, path string) error {
	out, err := m.files().Run(ctx, argv, m.onChangeEnv(path))
	if err == nil {
		return nil
	}
	text := strings.TrimSpace(string(out))
	if len(text) > 2000 {
		text = "…" + text[len(text)-2000:]
	}
	text = m.run.Redactor().Redact(text)
	if text == "" {
		text = "(no output)"
	}
	return fmt.Errorf("on_change %q failed: %v: %s", strings.Join(argv, " "), err, text)
}
