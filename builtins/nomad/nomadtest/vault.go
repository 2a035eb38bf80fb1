package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"
)

// defaultVaultAddr is Nomad's default vault.address.
const defaultVaultAddr = "https://vault.service.consul:8200"

// vaultConfig is the vault {} block of the Nomad agent configuration.
type vaultConfig struct {
	Enabled              *bool  `hcl:"enabled"`
	Address              string `hcl:"address"`
	Token                string `hcl:"token"`
	Role                 string `hcl:"create_from_role"`
	TaskTokenTTL         string `hcl:"task_token_ttl"`
	Namespace            string `hcl:"namespace"`
	AllowUnauthenticated *bool  `hcl:"allow_unauthenticated"`
}

func (c *vaultConfig) enabled() bool { return c != nil && boolv(c.Enabled) }

func (c *vaultConfig) address() string {
	if c.Address == "" {
		return defaultVaultAddr
	}
	return c.Address
}

// agentFile is the part of a Nomad agent configuration file the double reads. It is
// decoded with HCL 1, as Nomad 1.6 decodes its agent configuration (HCL or JSON).
type agentFile struct {
	Vault []*vaultConfig `hcl:"vault"`
}

// readVaultConfig re-reads the agent configuration. A missing file (or no path) means
// Vault is disabled; later vault blocks override earlier fields, as Nomad merges them.
func (s *Server) readVaultConfig() (*vaultConfig, error) {
	out := &vaultConfig{}
	if s.cfg.AgentConfigPath == "" {
		return out, nil
	}
	b, err := os.ReadFile(s.cfg.AgentConfigPath)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	var f agentFile
	if err := hcl.Decode(&f, string(b)); err != nil {
		// HCL errors quote positions, not values, so no token can leak here.
		return nil, fmt.Errorf("failed to decode HCL file %s: %w", s.cfg.AgentConfigPath, err)
	}
	for _, v := range f.Vault {
		if v.Enabled != nil {
			out.Enabled = v.Enabled
		}
		if v.AllowUnauthenticated != nil {
			out.AllowUnauthenticated = v.AllowUnauthenticated
		}
		for _, kv := range []struct {
			dst *string
			src string
		}{
			{&out.Address, v.Address}, {&out.Token, v.Token}, {&out.Role, v.Role},
			{&out.TaskTokenTTL, v.TaskTokenTTL}, {&out.Namespace, v.Namespace},
		} {
			if kv.src != "" {
				*kv.dst = kv.src
			}
		}
	}
	return out, nil
}

// newVaultClient makes a Vault client for addr that ignores the process's VAULT_*
// variables, with the given token (may be "").
func newVaultClient(addr, token, namespace string) (*vaultapi.Client, error) {
	c, err := vaultapi.NewClient(&vaultapi.Config{Address: addr, Timeout: 30 * time.Second, MaxRetries: 2})
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	c.ClearNamespace()
	if token != "" {
		c.SetToken(token)
	}
	if namespace != "" {
		c.SetNamespace(namespace)
	}
	return c, nil
}

// vaultLease is a task's Vault token and its accessor (for revocation).
type vaultLease struct{ token, accessor string }

// deriveVaultToken does what Nomad 1.6 does for a task with a vault block: the server
// creates a token through auth/token/create/<create_from_role> with its own token,
// response-wrapped, and the client unwraps it. On failure it returns the Killing event
// the task runner emits, worded as Nomad's vault hook words it.
func (s *Server) deriveVaultToken(a *api.Allocation, t *api.Task) (vaultLease, *api.TaskEvent) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	fail := func(serverSide bool, err error) (vaultLease, *api.TaskEvent) {
		msg := fmt.Sprintf("Vault: failed to derive vault token: %v", err)
		if serverSide {
			msg = fmt.Sprintf("Vault: server failed to derive vault token: failed to create token for task %q on alloc %q: %v", t.Name, a.ID, err)
		}
		ev := newEvent(api.TaskKilling, msg)
		ev.VaultError = err.Error()
		ev.Details["vault_renewal_error"] = err.Error()
		return vaultLease{}, ev
	}

	vc, err := s.readVaultConfig()
	if err != nil {
		return fail(true, err)
	}
	if !vc.enabled() {
		return fail(true, errors.New("Vault integration disabled"))
	}
	namespace := vc.Namespace
	if ns := str(t.Vault.Namespace); ns != "" {
		namespace = ns
	}
	server, err := newVaultClient(vc.address(), vc.Token, namespace)
	if err != nil {
		return fail(true, err)
	}
	server.SetWrappingLookupFunc(func(operation, path string) string {
		if strings.HasPrefix(path, "auth/token/create") {
			return "60s"
		}
		return ""
	})
	req := &vaultapi.TokenCreateRequest{
		Policies: t.Vault.Policies,
		Metadata: map[string]string{
			"AllocationID": a.ID,
			"JobID":        a.JobID,
			"TaskGroup":    a.TaskGroup,
			"Task":         t.Name,
			"NodeID":       a.NodeID,
			"Namespace":    a.Namespace,
		},
		TTL:         vc.TaskTokenTTL,
		DisplayName: a.ID + "-" + t.Name,
	}
	var secret *vaultapi.Secret
	if role := vc.Role; role != "" {
		secret, err = server.Auth().Token().CreateWithRoleWithContext(ctx, req, role)
	} else {
		// Without create_from_role Nomad uses the role its own token was made from, or,
		// for a root token, creates periodic tokens directly.
		self, lerr := server.Auth().Token().LookupSelfWithContext(ctx)
		if lerr != nil {
			return fail(true, lerr)
		}
		if r, _ := self.Data["role"].(string); r != "" {
			secret, err = server.Auth().Token().CreateWithRoleWithContext(ctx, req, r)
		} else {
			req.Period = vc.TaskTokenTTL
			secret, err = server.Auth().Token().CreateWithContext(ctx, req)
		}
	}
	if err != nil {
		return fail(true, err)
	}
	if secret == nil || secret.WrapInfo == nil || secret.WrapInfo.Token == "" {
		return fail(true, errors.New("Vault returned Secret without WrapInfo"))
	}

	client, err := newVaultClient(vc.address(), "", "")
	if err != nil {
		return fail(false, err)
	}
	unwrapped, err := client.Logical().UnwrapWithContext(ctx, secret.WrapInfo.Token)
	if err != nil {
		return fail(false, fmt.Errorf("failed to unwrap the token for task %q: %v", t.Name, err))
	}
	if unwrapped == nil || unwrapped.Auth == nil || unwrapped.Auth.ClientToken == "" {
		return fail(false, fmt.Errorf("failed to unwrap the token for task %q: no token in the wrapped response", t.Name))
	}
	return vaultLease{token: unwrapped.Auth.ClientToken, accessor: unwrapped.Auth.Accessor}, nil
}

// revokeVaultToken revokes a task token by accessor with the server token, as Nomad's
// server does when the task's allocation stops. Failures are only logged.
func (s *Server) revokeVaultToken(ctx context.Context, accessor string) {
	vc, err := s.readVaultConfig()
	if err != nil || !vc.enabled() {
		return
	}
	c, err := newVaultClient(vc.address(), vc.Token, vc.Namespace)
	if err != nil {
		return
	}
	if err := c.Auth().Token().RevokeAccessorWithContext(ctx, accessor); err != nil {
		s.logf("revoking a task token: %v", err)
	}
}
