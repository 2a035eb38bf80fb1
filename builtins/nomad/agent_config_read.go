package nomad

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// nomad.agent_config_read(path) returns the vault {} block of a Nomad agent config:
//
//	struct(enabled, address, token, create_from_role, task_token_ttl, namespace, ...)
//
// with every other attribute of the block too. An attribute that is absent is None (a
// missing file or block gives all None), and the token is a Secret. It reads a local
// file, which is allowed in every mode, so a script can reuse the server token already
// in the config (vault.token(..., reuse=current.token)) instead of minting a new one.
func (m *module) agentConfigReadBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	ac, err := readAgentConfig(m.files(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	fields := starlark.StringDict{}
	for _, name := range []string{"enabled", "address", "token", "create_from_role", "task_token_ttl", "namespace", "jwt_auth_backend_path", "default_identity"} {
		fields[name] = starlark.None
	}
	for name, a := range ac.attrs {
		var v starlark.Value = starlark.String(a.text) // an expression we cannot evaluate: as written
		if a.ok {
			v = ctyToStarlark(a.value)
		}
		if name == "token" {
			s, ok := v.(starlark.String)
			switch {
			case !ok:
				return nil, fmt.Errorf("%s: %s: vault.token is not a string", fn.Name(), path)
			case s == "":
				v = starlark.None
			default:
				v = m.run.Secret(string(s))
			}
		}
		fields[name] = v
	}
	return runtime.Struct(fields), nil
}

func ctyToStarlark(v cty.Value) starlark.Value {
	if v.IsNull() || !v.IsKnown() {
		return starlark.None
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return starlark.String(v.AsString())
	case t == cty.Bool:
		return starlark.Bool(v.True())
	case t == cty.Number:
		f := v.AsBigFloat()
		if f.IsInt() {
			i, _ := f.Int(nil)
			return starlark.MakeBigInt(i)
		}
		x, _ := f.Float64()
		return starlark.Float(x)
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		var out []starlark.Value
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, ctyToStarlark(e))
		}
		return starlark.NewList(out)
	case t.IsMapType() || t.IsObjectType():
		d := starlark.NewDict(v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			_ = d.SetKey(starlark.String(k.AsString()), ctyToStarlark(e))
		}
		return d
	}
	return starlark.String(literal(v))
}
