package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// login is vault.login(token, namespace=None), as `vault login TOKEN`: the token
// (a secret or a string) authenticates every later call of the run. It records nothing
// and returns None.
//
// A token of None (init.root_token of a Vault initialised elsewhere) means the token the
// vault CLI would use: VAULT_TOKEN, else the file ~/.vault-token ($HOME from the run's
// environment). Finding neither is an error.
//
// When the token is known and Vault can be read, it is validated at once with
// auth/token/lookup-self, in plan and apply, so a wrong token fails at its own line
// rather than at the first write; the error names where the token came from, never the
// token. The root token this run's vault.init has just returned needs no check. In a
// plan where the token is unknown (init happens in the same run), the run is "not
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
	var token, source string
	if tokenArg == starlark.None {
		if token, source, err = v.environmentToken(); err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
	} else {
		var ok bool
		token, _, ok = runtime.StringOrSecret(tokenArg)
		if !ok || token == "" {
			return nil, fmt.Errorf("%s: token: want a non-empty secret or string (or None for VAULT_TOKEN), not %s", fn.Name(), tokenArg.Type())
		}
		source = "given to vault.login"
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
			err = &explained{fmt.Errorf("Vault at %s rejected the token %s (auth/token/lookup-self: %s): "+
				"it is wrong, expired or revoked, or belongs to another Vault", v.addr, source, responseText(err))}
		}
		_, err = v.readFailed(thread, "vault login", err)
		return nil, err
	}
	return starlark.None, nil
}

// environmentToken finds the token the vault CLI would use, and says where it came
// from: VAULT_TOKEN, else ~/.vault-token (what `vault login` stores).
func (v *vault) environmentToken() (token, source string, err error) {
	if t := strings.TrimSpace(v.run.Env("VAULT_TOKEN")); t != "" {
		return t, "from VAULT_TOKEN", nil
	}
	home := v.run.Env("HOME")
	if home == "" {
		return "", "", fmt.Errorf("no token: the token is None (Vault was initialised elsewhere, so there is no root token from vault.init), " +
			"VAULT_TOKEN is not set, and HOME is not set, so there is no ~/.vault-token either; set VAULT_TOKEN (or run `vault login`)")
	}
	path := filepath.Join(home, ".vault-token")
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("reading the token in %s: %w", path, err)
	}
	if t := strings.TrimSpace(string(data)); t != "" {
		return t, "in " + path, nil
	}
	return "", "", fmt.Errorf("no token: the token is None (Vault was initialised elsewhere, so there is no root token from vault.init), "+
		"VAULT_TOKEN is not set, and %s does not exist or is empty; set VAULT_TOKEN (or run `vault login`)", path)
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
