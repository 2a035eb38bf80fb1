package vault

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// Every token vault.token mints carries this metadata, so that a later run can tell the
// tokens nvrun minted for an address from everything else in the token store.
const (
	metaMarker  = "nvrun"         // "1"
	metaAddress = "nvrun_address" // the resource address, e.g. vault token "nomad-server"
	// displayPrefix starts the display name of every token nvrun mints (Vault shows it
	// as token-nvrun-...), so an operator browsing the token store sees who made it.
	displayPrefix = "nvrun-"
	// lookupWorkers bounds the lookup-accessor requests in flight while looking for
	// strays: one LIST can return thousands of accessors.
	lookupWorkers = 8
	// accessorShown is how much of an accessor the plan shows. An accessor is not a
	// token, but it lets whoever may call lookup-accessor or revoke-accessor act on one.
	accessorShown = 8
)

// keep marks a token (by accessor) as this run's: minted or kept in use, never a stray.
func (v *vault) keep(accessor string) {
	if accessor == "" {
		return
	}
	if v.minted == nil {
		v.minted = map[string]bool{}
	}
	v.minted[accessor] = true
}

// mintMeta labels a token about to be minted for addr.
func mintMeta(req *api.TokenCreateRequest, addr, label string) {
	req.Metadata = map[string]string{metaMarker: "1", metaAddress: addr}
	if !strings.HasPrefix(req.DisplayName, displayPrefix) {
		req.DisplayName = displayPrefix + label
	}
}

// stray is a valid token that an interrupted run minted for an address and never handed
// on: the run was killed (or failed) between minting it and writing it where it is used.
type stray struct {
	accessor string
	ttl      int64 // seconds left; 0 never expires
}

// sweepStrays plans (in a plan) or revokes (in apply) the strays of addr: valid tokens
// with nvrun's metadata for addr, other than the one in use (inUse, an accessor; "" for
// none) and those this run minted. It runs only just before a mint, never when the
// token in use is reused: listing accessors costs one LIST plus one lookup per token
// in the store. A Vault that will not list accessors (it needs sudo on
// auth/token/accessors) gets a warning, and the mint goes ahead.
func (v *vault) sweepStrays(thread *starlark.Thread, ns, addr, inUse string) error {
	var strays []stray
	if _, err := v.run.Query(thread, runtime.Query{
		Server:  v.server,
		Address: addr,
		Read: func(ctx context.Context) (runtime.Answer, error) {
			c, err := v.api(ns)
			if err != nil {
				return runtime.Answer{}, err
			}
			found, err := v.findStrays(ctx, c, addr, inUse)
			switch {
			case runtime.IsUnreachable(err):
				return runtime.Answer{}, v.explain(err)
			case err != nil:
				v.run.Warn("%s: tokens left by an interrupted run were not looked for: %v", addr, v.explain(err))
				return runtime.Answer{Value: starlark.None}, nil
			}
			strays = found
			return runtime.Answer{Value: starlark.None}, nil
		},
	}); err != nil {
		return err
	}
	for _, s := range strays {
		summary := "left by an interrupted run (accessor " + shortAccessor(s.accessor)
		if s.ttl > 0 {
			summary += ", " + showSeconds(s.ttl) + " left"
		}
		if _, err := v.run.Converge(thread, runtime.Resource{
			Server:  v.server,
			Address: addr,
			Read: func(context.Context) (any, runtime.Fingerprint, error) {
				return s, runtime.HashFingerprint(map[string]string{"accessor": s.accessor}), nil // found a moment ago
			},
			Diff: func(runtime.Live) runtime.Change {
				return runtime.Change{Action: runtime.Delete, Summary: summary + "); revoked by accessor"}
			},
			Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
				c, err := v.api(ns)
				if err != nil {
					return nil, err
				}
				return nil, v.revokeStray(ctx, c, s.accessor)
			},
		}); err != nil {
			return err
		}
	}
	return nil
}

// revokeStray revokes a stray by accessor; one that is gone already (it expired, or a
// colleague revoked it) is what we wanted.
func (v *vault) revokeStray(ctx context.Context, c *api.Client, accessor string) error {
	err := c.Auth().Token().RevokeAccessorWithContext(ctx, accessor)
	if err != nil && !invalidAccessor(err) {
		return v.explain(err)
	}
	return nil
}

// findStrays lists every accessor and looks each up, lookupWorkers at a time.
func (v *vault) findStrays(ctx context.Context, c *api.Client, addr, inUse string) ([]stray, error) {
	sec, err := c.Logical().ListWithContext(ctx, "auth/token/accessors")
	if err != nil {
		return nil, err
	}
	var accessors []string
	if sec != nil && sec.Data != nil {
		if keys, ok := sec.Data["keys"].([]any); ok {
			for _, k := range keys {
				if s, ok := k.(string); ok && s != inUse && !v.minted[s] {
					accessors = append(accessors, s)
				}
			}
		}
	}
	var (
		mu    sync.Mutex
		found []stray
		first error
		wg    sync.WaitGroup
		queue = make(chan string)
	)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < lookupWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range queue {
				s, ok, err := lookupStray(cctx, c, a, addr)
				mu.Lock()
				switch {
				case err != nil && first == nil:
					first = err
					cancel()
				case ok:
					found = append(found, s)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, a := range accessors {
		select {
		case queue <- a:
		case <-cctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].accessor < found[j].accessor })
	return found, nil
}

// lookupStray looks one accessor up and says whether it is a stray of addr. An accessor
// that is no longer valid (it expired since the LIST) is not one.
func lookupStray(ctx context.Context, c *api.Client, accessor, addr string) (stray, bool, error) {
	sec, err := c.Auth().Token().LookupAccessorWithContext(ctx, accessor)
	if err != nil {
		if invalidAccessor(err) {
			return stray{}, false, nil
		}
		return stray{}, false, fmt.Errorf("lookup-accessor: %w", err)
	}
	if sec == nil || sec.Data == nil {
		return stray{}, false, nil
	}
	meta, _ := sec.Data["meta"].(map[string]any)
	if meta == nil || meta[metaMarker] != "1" || meta[metaAddress] != addr {
		return stray{}, false, nil
	}
	ttl, _ := jsonInt(sec.Data["ttl"])
	return stray{accessor: accessor, ttl: ttl}, true, nil
}

// invalidAccessor says whether Vault refused an accessor because no valid token has it.
func invalidAccessor(err error) bool {
	code, text := statusCode(err), responseText(err)
	return (code == 400 || code == 403 || code == 404) && strings.Contains(text, "invalid")
}

func shortAccessor(a string) string {
	if len(a) <= accessorShown {
		return a
	}
	return a[:accessorShown] + "…"
}
