package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"
)

// defaultVaultAddr is Nomad's default vault.address.
const defaultVaultAddr = "https://vault.service.consul:8200"

// vaultConfig is the vault {} block of the Nomad agent configuration: the fields of
// Nomad 1.6's token flow and of the workload identity flow of Nomad 1.7 and later.
type vaultConfig struct {
	Enabled              *bool  `hcl:"enabled"`
	Address              string `hcl:"address"`
	Token                string `hcl:"token"`
	Role                 string `hcl:"create_from_role"`
	TaskTokenTTL         string `hcl:"task_token_ttl"`
	Namespace            string `hcl:"namespace"`
	AllowUnauthenticated *bool  `hcl:"allow_unauthenticated"`
	ConnectionRetryIntv  string `hcl:"connection_retry_intv"`

	JWTAuthBackendPath string            `hcl:"jwt_auth_backend_path"`
	DefaultIdentity    []*identityConfig `hcl:"-"` // decoded from the AST, see loadAgentConfig
}

func (c *vaultConfig) enabled() bool { return c != nil && boolv(c.Enabled) }

func (c *vaultConfig) address() string {
	if c.Address == "" {
		return defaultVaultAddr
	}
	return c.Address
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

// vaultLease is a task's Vault token and, for tokens the server derived (token flow),
// the accessor it revokes them by.
type vaultLease struct{ token, accessor string }

// deriveVaultToken gets a task's Vault token the way the agent configuration says: the
// Nomad 1.6 token flow (the server derives it with its own token) or the workload
// identity flow of Nomad 1.10 (the client logs in with the task's identity). On failure
// it returns the Killing event the task runner emits, worded as Nomad's vault hook
// words it.
func (s *Server) deriveVaultToken(a *api.Allocation, t *api.Task) (vaultLease, *api.TaskEvent) {
	vc, _ := s.readVaultConfig()
	if vc.enabled() && !vc.tokenFlow() {
		return s.loginWithIdentity(a, t, vc)
	}
	return s.deriveServerToken(a, t)
}

// deriveServerToken does what Nomad 1.6 does for a task with a vault block: the server
// creates a token through auth/token/create/<role> with its own token (validated when
// the configuration was loaded), response-wrapped, and the client unwraps it.
func (s *Server) deriveServerToken(a *api.Allocation, t *api.Task) (vaultLease, *api.TaskEvent) {
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

	state := s.agentConfig()
	vc := state.vault
	if !vc.enabled() {
		return fail(true, errors.New("Vault integration disabled"))
	}
	// Nomad's CreateToken answers "Connection to Vault has not been established" (a
	// recoverable error the client retries) until the server token is validated, and
	// the validation error once it failed: wait for the outcome.
	role, root, err := state.conn.wait(ctx)
	if err != nil {
		return fail(true, err)
	}
	namespace := vc.Namespace
	if ns := str(t.Vault.Namespace); ns != "" {
		namespace = ns
	}
	server, err := newVaultClient(vc.address(), vc.Token, namespace)
	if err != nil {
		return fail(true, err)
	}
	// Nomad wraps only the create call: POST auth/token/create[/<role>].
	createPath := "auth/token/create"
	if role != "" {
		createPath += "/" + role
	}
	server.SetWrappingLookupFunc(func(operation, path string) string {
		if operation == "POST" && strings.TrimPrefix(path, "/") == createPath {
			return vaultTokenCreateTTL
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
			"Namespace":    namespace,
		},
		TTL:         vc.childTTL(),
		DisplayName: a.ID + "-" + t.Name,
	}
	var secret *vaultapi.Secret
	if root && role == "" {
		req.Period = vc.childTTL()
		secret, err = server.Auth().Token().CreateWithContext(ctx, req)
	} else {
		secret, err = server.Auth().Token().CreateWithRoleWithContext(ctx, req, role)
	}
	if err != nil {
		return fail(true, fmt.Errorf("failed to create an alloc vault token: %v", err))
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
// server does when the task's allocation stops. Failures are only logged. Tokens from
// a workload identity login have no accessor here: Nomad 1.10 does not revoke them.
func (s *Server) revokeVaultToken(ctx context.Context, accessor string) {
	vc, _ := s.readVaultConfig()
	if !vc.tokenFlow() {
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
