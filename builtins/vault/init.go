package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

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
//     loaded from the keys file; if it is missing that is an error, because nvrun cannot
//     recover them (the message says how to give a token instead).
//   - Vault not initialised: a create. If the keys file already exists this is refused,
//     in plan and in apply, before init is called. Apply reserves the file (O_EXCL,
//     0600), calls sys/init, and writes the keys and root token into it at once (write,
//     fsync, fsync of the directory); if that write fails they are printed to
//     Config.Stderr with a loud warning, and the builtin still fails. A live plan then
//     knows that authenticated reads can only happen at apply.
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

	addr := "vault init"
	path := v.keysFile()
	summary := fmt.Sprintf("%d key share(s), threshold %d; keys to %s", shares, threshold, path)
	create := runtime.Change{
		Address: addr, Action: runtime.Create, Summary: summary,
		Diff: []runtime.DiffLine{
			{Op: "+", Key: "keys", After: fmt.Sprintf("%d %s", shares, runtime.Redacted)},
			{Op: "+", Key: "root_token", After: runtime.Redacted},
		},
		Apply: func(ctx context.Context) (starlark.Value, error) {
			return v.applyInit(ctx, path, &api.InitRequest{SecretShares: shares, SecretThreshold: threshold, PGPKeys: pgp})
		},
	}

	if v.state(false) == offline {
		return v.plannedWithoutRead(thread, offline, create)
	}
	c, err := v.api("")
	if err != nil {
		return nil, err
	}
	st, err := c.Sys().SealStatusWithContext(v.run.Context())
	if err != nil {
		if v.degrade(err) {
			return v.plannedWithoutRead(thread, offline, create)
		}
		return v.readFailed(thread, addr, err)
	}

	v.lastSeal = st
	if st.Initialized {
		doc, err := loadKeys(path, v.addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		result := v.keysResult(doc.keys(), doc.UnsealKeysHex, doc.RootToken)
		var notes []string
		if st.N != 0 && (st.N != shares || st.T != threshold) {
			notes = append(notes, fmt.Sprintf("Vault was initialised with %d key share(s), threshold %d (the script asks %d/%d); nvrun does not rekey",
				st.N, st.T, shares, threshold))
		}
		if doc.VaultAddr != "" && doc.VaultAddr != v.addr {
			notes = append(notes, fmt.Sprintf("the keys file was written for %s", doc.VaultAddr))
		}
		return v.run.Effect(thread, runtime.Change{
			Address: addr, Action: runtime.Unchanged, Summary: "already initialised; keys loaded from " + path,
			Notes: notes, Planned: result,
		})
	}

	// Refuse before anything is planned or called: an existing keys file may be the only
	// copy of another Vault's keys. Apply checks again, atomically, with O_EXCL.
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), keysFileExists(path))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: keys file: %w", fn.Name(), err)
	}
	if v.run.Mode() == runtime.Plan {
		v.initPending = true
	}
	return v.run.Effect(thread, create)
}

// applyInit reserves the keys file, initialises Vault and saves the keys.
func (v *vault) applyInit(ctx context.Context, path string, req *api.InitRequest) (starlark.Value, error) {
	f, err := reserveKeysFile(path)
	if err != nil {
		return nil, err
	}
	c, err := v.api("")
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	resp, err := c.Sys().InitWithContext(ctx, req)
	if err != nil {
		f.Close()
		os.Remove(path) // we created it, empty, a moment ago
		return nil, v.explain(err)
	}
	// Register before anything (even the save's error) can print them.
	result := v.keysResult(resp.KeysB64, resp.Keys, resp.RootToken)
	if err := saveKeys(f, resp, req.SecretShares, req.SecretThreshold, v.addr, v.stderr()); err != nil {
		return nil, err
	}
	v.lastSeal = &api.SealStatusResponse{Initialized: true, Sealed: true, T: req.SecretThreshold, N: req.SecretShares}
	v.initRoot = resp.RootToken
	v.initialised()
	return result, nil
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
