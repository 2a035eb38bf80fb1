package vault

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// login is vault.login(token, namespace=None), as `vault login TOKEN`: the token
// (a secret or a string) authenticates every later call of the run. It records nothing
// and returns None.
//
// When the token is known and Vault can be read, it is validated at once with
// auth/token/lookup-self, so a wrong token fails at its own line rather than at the
// first write; the root token this run's vault.init has just returned needs no check.
// In a plan where the token is unknown (init happens in the same run), the run is "not
// logged in until apply": later builtins plan their writes without reading.
func (v *vault) login(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := popNamespace(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var tokenArg starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "token", &tokenArg); err != nil {
		return nil, err
	}
	if runtime.IsUnknown(tokenArg) {
		if v.run.Mode() == runtime.Apply {
			return nil, fmt.Errorf("%s: the token is not known", fn.Name())
		}
		v.loginPending = true
		v.setToken("")
		return starlark.None, nil
	}
	token, _, ok := runtime.StringOrSecret(tokenArg)
	if !ok || token == "" {
		return nil, fmt.Errorf("%s: token: want a non-empty secret or string, not %s", fn.Name(), tokenArg.Type())
	}
	v.run.Secret(token)
	v.setToken(token)
	v.loginPending = false

	if v.state(true) != live || (token == v.initRoot && ns == "") {
		// Nothing to read, or the root token init returned a moment ago: valid.
		return starlark.None, nil
	}
	c, err := v.api(ns)
	if err != nil {
		return nil, err
	}
	if _, err := c.Auth().Token().LookupSelfWithContext(v.run.Context()); err != nil {
		if v.degrade(err) {
			return starlark.None, nil
		}
		if statusCode(err) == 403 {
			err = &explained{fmt.Errorf("Vault at %s rejected the token (auth/token/lookup-self): %s", v.addr, responseText(err))}
		}
		_, err = v.readFailed(thread, "vault login", err)
		return nil, err
	}
	return starlark.None, nil
}

// setNamespace is vault.namespace(ns): later calls work in namespace ns (Vault
// Enterprise, or OpenBao); None or "" is the root namespace. A namespace= argument on a
// single builtin overrides it for that call.
func (v *vault) setNamespace(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "ns", &ns); err != nil {
		return nil, err
	}
	switch x := ns.(type) {
	case starlark.NoneType:
		v.namespace = ""
	case starlark.String:
		v.namespace = strings.Trim(string(x), "/")
	default:
		return nil, fmt.Errorf("%s: want a string or None, not %s", fn.Name(), ns.Type())
	}
	return starlark.None, nil
}
