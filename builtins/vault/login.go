package vault

import (
	"context"
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
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var tokenArg starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "token", &tokenArg); err != nil {
		return nil, err
	}
	var token runtime.SecretArg
	source := "given to vault.login"
	if tokenArg == starlark.None {
		if token.Value, source, err = v.environmentToken(); err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
	} else if token.Unpack(tokenArg) != nil || (token.Value == "" && !token.IsUnknown()) {
		return nil, fmt.Errorf("%s: token: want a non-empty secret or string (or None for VAULT_TOKEN), not %s", fn.Name(), tokenArg.Type())
	}
	if token.IsUnknown() {
		// Known only at apply (init's root token in a plan that initialises Vault).
		v.server.Block(notLoggedIn)
		v.setToken("")
		return starlark.None, nil
	}
	v.run.Secret(token.Value)
	v.setToken(token.Value)
	if token.Value == v.initRoot && ns == "" {
		return starlark.None, nil // the root token init returned a moment ago: valid
	}
	_, err = v.run.Query(thread, runtime.Query{
		Server:  v.server,
		Address: "vault login",
		Read: func(ctx context.Context) (runtime.Answer, error) {
			c, err := v.api(ns)
			if err != nil {
				return runtime.Answer{}, err
			}
			if _, err := c.Auth().Token().LookupSelfWithContext(ctx); err != nil {
				if statusCode(err) == 403 {
					return runtime.Answer{}, &explained{fmt.Errorf("Vault at %s rejected the token %s (auth/token/lookup-self: %s): "+
						"it is wrong, expired or revoked, or belongs to another Vault", v.addr, source, responseText(err)), nil}
				}
				return runtime.Answer{}, v.explain(err)
			}
			return runtime.Answer{Value: starlark.None}, nil
		},
	})
	if err != nil {
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
	var ns runtime.NamespaceArg
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "ns", &ns); err != nil {
		return nil, err
	}
	v.namespace = string(ns)
	return starlark.None, nil
}
