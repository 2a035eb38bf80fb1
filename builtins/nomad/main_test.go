package nomad

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/internal/testserver"
)

// The one real Vault this package's tests share, started by the first test that needs
// it (SharedVault): the pure tests (job specs, diffs, agent config files, templates) run
// without one. Each test that asks for it gets it back as a Vault just initialised.
var (
	vaultOnce sync.Once
	vaultSrv  *testserver.Vault
	vaultRoot string
	vaultDir  string
	vaultErr  error
	vaultBase vaultState // what a Vault just initialised has
)

// SharedVault returns the shared Vault's address and root token, starting it on first
// use and clearing what earlier tests wrote. A test that needs it fails (never skips)
// when it cannot start. Exported for the package's external tests (nomad_test).
func SharedVault(t testing.TB) (addr, root string) {
	t.Helper()
	vaultOnce.Do(func() {
		if vaultDir, vaultErr = os.MkdirTemp("", "nvrun-nomad-vault-"); vaultErr != nil {
			return
		}
		if vaultSrv, vaultRoot, vaultErr = testserver.StartVaultUnsealed(vaultDir); vaultErr != nil {
			return
		}
		vaultBase, vaultErr = readVaultState(rootClient())
	})
	if vaultErr != nil {
		t.Fatalf("builtins/nomad tests need a real Vault: %v", vaultErr)
	}
	if err := resetVault(rootClient()); err != nil {
		t.Fatalf("resetting the shared Vault: %v", err)
	}
	return vaultSrv.Addr, vaultRoot
}

func rootClient() *vaultapi.Client {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = vaultSrv.Addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		panic(err) // only a malformed address fails, and the address is the server's own
	}
	c.SetToken(vaultRoot)
	return c
}

// vaultState is what tests write to Vault: policies, secrets engines, auth methods and
// token roles.
type vaultState struct{ policies, mounts, auths, roles []string }

func readVaultState(c *vaultapi.Client) (vaultState, error) {
	var s vaultState
	var err error
	if s.policies, err = c.Sys().ListPolicies(); err != nil {
		return s, fmt.Errorf("list policies: %w", err)
	}
	mounts, err := c.Sys().ListMounts()
	if err != nil {
		return s, fmt.Errorf("list mounts: %w", err)
	}
	for p := range mounts {
		s.mounts = append(s.mounts, p)
	}
	auths, err := c.Sys().ListAuth()
	if err != nil {
		return s, fmt.Errorf("list auth methods: %w", err)
	}
	for p := range auths {
		s.auths = append(s.auths, p)
	}
	roles, err := c.Logical().List("auth/token/roles")
	if err != nil {
		return s, fmt.Errorf("list token roles: %w", err)
	}
	if roles != nil {
		if keys, ok := roles.Data["keys"].([]any); ok {
			for _, k := range keys {
				s.roles = append(s.roles, fmt.Sprint(k))
			}
		}
	}
	return s, nil
}

// resetVault removes every policy, secrets engine, auth method and token role that a
// Vault just initialised does not have.
func resetVault(c *vaultapi.Client) error {
	now, err := readVaultState(c)
	if err != nil {
		return err
	}
	for _, p := range now.policies {
		if !slices.Contains(vaultBase.policies, p) {
			if err := c.Sys().DeletePolicy(p); err != nil {
				return fmt.Errorf("delete policy %s: %w", p, err)
			}
		}
	}
	for _, m := range now.mounts {
		if !slices.Contains(vaultBase.mounts, m) {
			if err := c.Sys().Unmount(m); err != nil {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	for _, a := range now.auths {
		if !slices.Contains(vaultBase.auths, a) {
			if err := c.Sys().DisableAuth(a); err != nil {
				return fmt.Errorf("disable auth %s: %w", a, err)
			}
		}
	}
	for _, r := range now.roles {
		if !slices.Contains(vaultBase.roles, r) {
			if _, err := c.Logical().Delete("auth/token/roles/" + r); err != nil {
				return fmt.Errorf("delete token role %s: %w", r, err)
			}
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if vaultSrv != nil {
		vaultSrv.Stop() // by PID (process group), see testserver.Process.Stop
	}
	if vaultDir != "" {
		os.RemoveAll(vaultDir)
	}
	os.Exit(code)
}
