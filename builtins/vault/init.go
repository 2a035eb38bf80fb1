package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// initVault is vault.init(key_shares, key_threshold, pgp_keys=None), as
// `vault operator init -key-shares=N -key-threshold=T`.
//
//	-> struct(keys=[secret, ...], root_token=secret)
//
// Plan and apply:
//   - offline: a create whose keys and root token are unknown.
//   - Vault already initialised: unchanged (no write). The keys and root token are
//     loaded from the keys file. With no keys file Vault was initialised elsewhere: the
//     result's keys and root_token are None (vault.unseal(None) and vault.login(None)
//     then use what the environment gives). An empty or unusable keys file means an
//     earlier init was cut off after Vault initialised: an error that says the keys
//     are lost and how to reset the storage.
//   - Vault not initialised: a create. If the keys file already exists this is refused,
//     in plan and in apply, before init is called, unless it is the empty file an
//     interrupted run reserved (reusableKeysFile). Apply reserves the file (O_EXCL or
//     that reuse, 0600, flock), calls sys/init, and writes the keys and root token into
//     it at once (write, fsync, fsync of the directory); if that write fails they are
//     printed to Options.Stderr with a loud warning, and the builtin still fails. If
//     sys/init fails without a whole answer, the file stays (empty) when Vault did
//     initialise. A live plan then knows that authenticated reads can only happen at
//     apply.
//
// Every key and the root token are registered as secrets, so no output can show them.
func (v *vault) initVault(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var shares, threshold int
	var pgpKeys starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key_shares", &shares, "key_threshold", &threshold, "pgp_keys?", &pgpKeys); err != nil {
		return nil, err
	}
	if shares < 1 || threshold < 1 || threshold > shares || (shares > 1 && threshold < 2) {
		return nil, fmt.Errorf("%s: key_threshold must be between 2 and key_shares (or both 1), got key_shares=%d key_threshold=%d",
			fn.Name(), shares, threshold)
	}
	pgp, err := runtime.StringList(pgpKeys)
	if err != nil {
		return nil, fmt.Errorf("%s: pgp_keys: %w", fn.Name(), err)
	}
	if len(pgp) > 0 && len(pgp) != shares {
		return nil, fmt.Errorf("%s: pgp_keys has %d keys, want one per key share (%d)", fn.Name(), len(pgp), shares)
	}

	path := v.keysFile()
	summary := fmt.Sprintf("%d key share(s), threshold %d; keys to %s", shares, threshold, path)
	return v.run.Converge(thread, runtime.Resource{
		Server:    v.server,
		Address:   "vault init",
		Unblocked: true, // sys/seal-status needs no token
		// Until apply has initialised Vault, nothing authenticated can be read.
		Pending: notLoggedIn + "; " + initAtApply,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			c, err := v.api("")
			if err != nil {
				return nil, "", err
			}
			st, err := c.Sys().SealStatusWithContext(ctx)
			if err != nil {
				return nil, "", v.explain(err)
			}
			v.lastSeal = st // for vault.unseal, which follows
			found, err := v.initState(st, path)
			if err != nil {
				return nil, "", err
			}
			return found, runtime.HashFingerprint(map[string]any{"initialized": st.Initialized, "n": st.N, "t": st.T}), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			found, _ := live.Value.(*initState)
			switch {
			case found == nil || !found.st.Initialized:
				c := runtime.Change{Action: runtime.Create, Summary: summary, Notes: unreadNotes(live),
					Diff: []runtime.DiffLine{
						{Op: "+", Key: "keys", After: fmt.Sprintf("%d %s", shares, runtime.Redacted)},
						{Op: "+", Key: "root_token", After: runtime.Redacted},
					}}
				if found != nil && found.reuseFile {
					c.Notes = append(c.Notes, "reuses the empty keys file an interrupted run reserved")
				}
				return c
			case found.keys == nil:
				// Initialised by someone else: the normal case of an existing cluster. The
				// script goes on with a token from the environment (vault.login(None)).
				return runtime.Change{Action: runtime.Unchanged, Summary: "initialised elsewhere; no keys file at " + path,
					Notes: []string{"keys and root_token are None: vault.unseal(None) needs Vault unsealed, " +
						"vault.login(None) uses VAULT_TOKEN or ~/.vault-token"},
					Planned: runtime.Struct(starlark.StringDict{"keys": starlark.None, "root_token": starlark.None}),
				}
			}
			var notes []string
			if st := found.st; st.N != 0 && (st.N != shares || st.T != threshold) {
				notes = append(notes, fmt.Sprintf("Vault was initialised with %d key share(s), threshold %d (the script asks %d/%d); nvrun does not rekey",
					st.N, st.T, shares, threshold))
			}
			if found.keysAddr != "" && found.keysAddr != v.addr {
				notes = append(notes, fmt.Sprintf("the keys file was written for %s", found.keysAddr))
			}
			return runtime.Change{Action: runtime.Unchanged, Summary: "already initialised; keys loaded from " + path,
				Notes: notes, Planned: found.keys}
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			return v.applyInit(ctx, path, &api.InitRequest{SecretShares: shares, SecretThreshold: threshold, PGPKeys: pgp})
		},
		// Delete is nil: an init is never undone (its keys are the only way in).
	})
}

// initState is what vault.init found: Vault's seal status and, once it is initialised,
// the keys from the keys file (nil: initialised elsewhere, no keys file).
type initState struct {
	st        *api.SealStatusResponse
	keys      starlark.Value // init's result, loaded from the keys file
	keysAddr  string         // the Vault address the keys file was written for
	reuseFile bool           // not initialised, and the keys file is the empty one an interrupted run reserved
}

// initState reads the keys file for seal status st. An initialised Vault's keys are
// loaded (an empty or unusable file means an earlier init was cut off: an error). For
// an uninitialised one, an existing keys file is refused before anything is planned or
// called: it may be the only copy of another Vault's keys. The one exception is the
// empty file an interrupted run reserved, which holds nothing. Apply checks again,
// atomically (O_EXCL, flock).
func (v *vault) initState(st *api.SealStatusResponse, path string) (*initState, error) {
	found := &initState{st: st}
	if st.Initialized {
		doc, err := loadKeys(path, v.addr)
		if err != nil || doc == nil {
			return found, err
		}
		found.keys, found.keysAddr = v.keysResult(doc.keys(), doc.UnsealKeysHex, doc.RootToken), doc.VaultAddr
		return found, nil
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !reusableKeysFile(fi):
		return nil, keysFileExists(path)
	case err == nil:
		found.reuseFile = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("keys file: %w", err)
	}
	return found, nil
}

// applyInit reserves the keys file, initialises Vault and saves the keys. Between
// Vault's answer and the fsync of the keys nothing else happens (no request, no output).
func (v *vault) applyInit(ctx context.Context, path string, req *api.InitRequest) (starlark.Value, error) {
	f, reused, err := reserveKeysFile(path)
	if err != nil {
		return nil, err
	}
	if testHookReserved != nil {
		testHookReserved(path)
	}
	c, err := v.api("")
	if err != nil {
		f.Close()
		if !reused {
			os.Remove(path)
		}
		return nil, err
	}
	resp, err := c.Sys().InitWithContext(ctx, req)
	if err != nil {
		err = v.initFailed(c, path, err) // with the file still locked, so removing it is safe
		f.Close()
		return nil, err
	}
	// Register before anything (even the save's error) can print them.
	result := v.keysResult(resp.KeysB64, resp.Keys, resp.RootToken)
	err = saveKeys(f, resp, req.SecretShares, req.SecretThreshold, v.addr, v.stderr())
	if testHookSaved != nil {
		testHookSaved()
	}
	if err != nil {
		return nil, err
	}
	v.lastSeal = &api.SealStatusResponse{Initialized: true, Sealed: true, T: req.SecretThreshold, N: req.SecretShares}
	v.initRoot = resp.RootToken
	v.initialised()
	return result, nil
}

// Test hooks: called right after the keys file is reserved, and right after the keys
// are saved (or failed to be). Nil outside tests.
var testHookReserved func(path string)
var testHookSaved func()

// initFailed handles a failed sys/init. Unless Vault answered with an error, the request
// may have reached it even though no answer came back (a cut connection, a truncated
// body, a timeout, an interrupt), so Vault is asked whether it is initialised now. The
// empty keys file is removed only when Vault answered and is not initialised (it
// refused), or answered that someone else had initialised it; otherwise the file stays,
// empty, as the marker by which a re-run recognises an init cut off after Vault
// initialised (a Vault may finish an init whose client has gone), and the error says
// what happened.
func (v *vault) initFailed(c *api.Client, path string, initErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Sys().SealStatusWithContext(ctx)
	answered := statusCode(initErr) != 0
	switch {
	case err != nil:
		return fmt.Errorf("%w; then Vault's state could not be read (%v), so the empty keys file %s is kept: "+
			"a re-run reuses it if Vault is still uninitialised, and otherwise says what to do",
			v.explain(initErr), v.explain(err), path)
	case answered && !st.Initialized:
		os.Remove(path) // empty: reserved a moment ago, or left by an earlier interrupted run
		return v.explain(initErr)
	case answered && statusCode(initErr) == 400 && strings.Contains(responseText(initErr), "already initialized"):
		// Vault refused: someone else initialised it between our check and our request.
		os.Remove(path)
		return fmt.Errorf("%w: Vault was initialised elsewhere meanwhile; a re-run goes on without keys (give a token with VAULT_TOKEN)",
			v.explain(initErr))
	case !st.Initialized:
		return fmt.Errorf("%w: no answer to sys/init, and Vault reports it is not initialised; the empty keys file %s is kept: "+
			"a re-run reuses it while Vault is uninitialised, and says what happened if Vault did initialise after all",
			v.explain(initErr), path)
	default:
		cause := unreachableCause(initErr) // without the URL
		return fmt.Errorf("Vault's answer to sys/init was cut off (%s), and Vault at %s is initialised now: this vault.init was cut off "+
			"after Vault initialised, so the unseal keys and root token never arrived, and the keys file %s is left empty. %s",
			cause, v.addr, path, resetAdvice(path))
	}
}

// keysResult builds init's result, registering every form of every key as a secret.
func (v *vault) keysResult(keys, hexKeys []string, rootToken string) starlark.Value {
	for _, k := range hexKeys {
		v.run.Secret(k)
	}
	list := make([]starlark.Value, len(keys))
	for i, k := range keys {
		list[i] = v.run.Secret(k)
	}
	return runtime.Struct(starlark.StringDict{
		"keys":       starlark.NewList(list),
		"root_token": v.run.Secret(rootToken),
	})
}
