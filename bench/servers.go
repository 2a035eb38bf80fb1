package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/nvrun/nvrun/internal/testserver"
)

// freshVault is a Vault started for one contender's run: not timed, and stopped after.
type freshVault struct {
	*testserver.Vault
	dir string
}

// startVaults starts n fresh Vaults side by side (untimed setup). With unseal, each is
// initialised with one key share, unsealed and active, and its RootToken is set; else
// each is uninitialised, as the guide's step 1 needs.
func (e *benchEnv) startVaults(n int, unseal bool) ([]*freshVault, error) {
	out := make([]*freshVault, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir, err := os.MkdirTemp(e.dir, "vault-")
			if err != nil {
				errs[i] = err
				return
			}
			v, err := testserver.StartVault(filepath.Join(dir, "server"))
			if err != nil {
				os.RemoveAll(dir)
				errs[i] = err
				return
			}
			if unseal {
				if _, _, err := v.InitUnseal(); err != nil {
					v.Stop()
					os.RemoveAll(dir)
					errs[i] = err
					return
				}
			}
			out[i] = &freshVault{Vault: v, dir: dir}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			stopVaults(out)
			return nil, fmt.Errorf("start vault %d: %w", i+1, err)
		}
	}
	return out, nil
}

func (v *freshVault) stop() {
	if v != nil && v.Vault != nil {
		v.Vault.Stop()
		os.RemoveAll(v.dir)
		v.Vault = nil
	}
}

// stopVaults stops every Vault in vs, side by side.
func stopVaults(vs []*freshVault) {
	var wg sync.WaitGroup
	for _, v := range vs {
		if v != nil {
			wg.Add(1)
			go func() { defer wg.Done(); v.stop() }()
		}
	}
	wg.Wait()
}

// vaultPool hands out Vaults started ahead, a round's worth at a time, so that no
// Vault starts while another contender is being timed.
type vaultPool struct {
	e      *benchEnv
	unseal bool
	ready  []*freshVault
	used   []*freshVault
}

// refill starts n Vaults (side by side) for the next round.
func (p *vaultPool) refill(n int) error {
	vs, err := p.e.startVaults(n, p.unseal)
	if err != nil {
		return err
	}
	p.ready = append(p.ready, vs...)
	return nil
}

func (p *vaultPool) take() (*freshVault, error) {
	if len(p.ready) == 0 {
		return nil, fmt.Errorf("vault pool is empty")
	}
	v := p.ready[0]
	p.ready = p.ready[1:]
	p.used = append(p.used, v)
	return v, nil
}

// drain stops every Vault the pool started.
func (p *vaultPool) drain() {
	stopVaults(append(p.ready, p.used...))
	p.ready, p.used = nil, nil
}
