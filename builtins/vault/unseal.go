package vault

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// unsealWait bounds how long apply waits, after the last key, for Vault to become the
// active node (or to find one) before later steps talk to it.
const unsealWait = 60 * time.Second

// unseal is vault.unseal(keys): keys is a list of secrets or strings (init.keys), as
// `vault operator unseal` run once per key. None (init.keys of a Vault initialised
// elsewhere) means no keys: fine on an unsealed Vault, an error on a sealed one that
// says how many keys are missing and where to give them.
//
// Plan and apply:
//   - offline: a call.
//   - Vault unsealed: unchanged, and no key is sent (so in a plan the keys may still be
//     unknown).
//   - Vault sealed (or not yet initialised, when init is planned in this run): a call
//     that apply performs by submitting keys until Vault reports unsealed, then waiting
//     until it is active. Still sealed after every key is an error. A live plan then
//     knows authenticated reads can only happen at apply.
func (v *vault) unseal(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var keysArg starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "keys", &keysArg); err != nil {
		return nil, err
	}
	keys, err := secretList(keysArg)
	if err != nil {
		return nil, fmt.Errorf("%s: keys: %w", fn.Name(), err)
	}
	for _, k := range keys {
		if !k.IsUnknown() {
			v.run.Secret(k.Value)
		}
	}
	noKeys := keysArg == starlark.None // init found no keys file: Vault was initialised elsewhere

	// A planned unseal blocks authenticated reads, unless a planned init already does.
	pending := unsealAtApply
	if strings.Contains(string(v.server.Blocked()), string(initAtApply)) {
		pending = ""
	}
	return v.run.Converge(thread, runtime.Resource{
		Server:    v.server,
		Address:   "vault unseal",
		Unblocked: true, // sys/seal-status needs no token
		Pending:   pending,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			c, err := v.api("")
			if err != nil {
				return nil, "", err
			}
			st, err := v.sealStatus(ctx, c)
			if err != nil {
				return nil, "", v.explain(err)
			}
			switch {
			case !st.Sealed:
			case noKeys:
				return nil, "", v.noUnsealKeys(st)
			case st.Initialized && keysKnown(keys) && len(keys) < st.T-st.Progress:
				return nil, "", fmt.Errorf("Vault at %s needs %d more unseal key(s), the script gives %d", v.addr, st.T-st.Progress, len(keys))
			}
			return st, runtime.HashFingerprint(map[string]any{"initialized": st.Initialized, "sealed": st.Sealed, "progress": st.Progress}), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			call := runtime.Change{Action: runtime.Call, Summary: "submit unseal keys", Planned: starlark.None}
			if noKeys {
				call.Summary = "no keys given"
				call.Notes = append(call.Notes, "Vault must be unsealed already")
			}
			st, _ := live.Value.(*api.SealStatusResponse)
			switch {
			case st == nil:
				call.Notes = append(call.Notes, unreadNotes(live)...)
			case !st.Sealed:
				return runtime.Change{Action: runtime.Unchanged, Summary: "already unsealed"}
			case st.Initialized:
				call.Summary = fmt.Sprintf("%d of %d key(s) needed, %d given", st.T-st.Progress, st.T, len(keys))
			default:
				call.Notes = append(call.Notes, "Vault is not initialised yet; it is unsealed after init at apply")
			}
			return call
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			return nil, v.applyUnseal(ctx, thread, keys)
		},
		// Delete is nil: sealing Vault again is no undo an apply could want.
	})
}

// noUnsealKeys is the error for a sealed Vault when the script has no keys to give: it
// says how many are missing and where to give them.
func (v *vault) noUnsealKeys(st *api.SealStatusResponse) error {
	if !st.Initialized {
		return fmt.Errorf("Vault at %s is not initialised, and no unseal keys were given (keys is None); initialise it first (vault.init)", v.addr)
	}
	return fmt.Errorf("Vault at %s is sealed and needs %d more unseal key(s) (threshold %d of %d, progress %d), "+
		"but no keys were given (keys is None: vault.init found no keys file, as when Vault was initialised elsewhere). "+
		"Give the keys file that holds them with --keys-file (or NVRUN_KEYS_FILE; the JSON `vault operator init -format=json` prints), "+
		"or pass the keys to the script as vault.unseal's argument (for example a sensitive var), or unseal Vault yourself (vault operator unseal)",
		v.addr, st.T-st.Progress, st.T, st.N, st.Progress)
}

// applyUnseal submits keys until Vault is unsealed, then waits for an active node.
func (v *vault) applyUnseal(ctx context.Context, thread *starlark.Thread, keys []runtime.SecretArg) error {
	c, err := v.api("")
	if err != nil {
		return err
	}
	sealed, submitted, progress, threshold := true, 0, 0, 0
	for _, k := range keys {
		if k.IsUnknown() {
			return fmt.Errorf("unseal key %d is not known", submitted+1)
		}
		st, err := c.Sys().UnsealWithContext(ctx, k.Value)
		if err != nil {
			return v.explain(err)
		}
		submitted++
		sealed, progress, threshold = st.Sealed, st.Progress, st.T
		if !sealed {
			break
		}
	}
	if sealed {
		return fmt.Errorf("Vault at %s is still sealed after %d unseal key(s) (progress %d of %d): the keys are too few or wrong",
			v.addr, submitted, progress, threshold)
	}
	return v.run.Wait(thread, runtime.WaitSpec{
		What: "vault active", Timeout: unsealWait, Interval: 100 * time.Millisecond,
		Poll: func(ctx context.Context) (bool, string, error) {
			// A non-HA Vault is active as soon as it is unsealed; an HA node is usable
			// once it leads or knows the leader it forwards to.
			l, err := c.Sys().LeaderWithContext(ctx)
			if err != nil {
				if statusCode(err) == 503 {
					return false, responseText(err), nil
				}
				return false, "", v.explain(err)
			}
			if !l.HAEnabled || l.IsSelf || l.LeaderAddress != "" {
				return true, "", nil
			}
			return false, "no active node yet", nil
		},
	})
}

// secretList unpacks a list of secrets/strings, any of them (or the whole) unknown.
// None is no keys (nil).
func secretList(v starlark.Value) ([]runtime.SecretArg, error) {
	if v == starlark.None {
		return nil, nil
	}
	if u, ok := v.(*runtime.Unknown); ok {
		return []runtime.SecretArg{{Unknown: u}}, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok || v.Type() == "string" || v.Type() == "secret" {
		return nil, fmt.Errorf("want a list of secrets or strings, not %s", v.Type())
	}
	var out []runtime.SecretArg
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for iter.Next(&e) {
		var k runtime.SecretArg
		if k.Unpack(e) != nil {
			return nil, fmt.Errorf("want secrets or strings, got an element of type %s", e.Type())
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no keys given")
	}
	return out, nil
}

func keysKnown(keys []runtime.SecretArg) bool {
	for _, k := range keys {
		if k.IsUnknown() {
			return false
		}
	}
	return true
}
