package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	vaultapi "github.com/hashicorp/vault/api"
)

// The token flow's server side, as nomad/vault.go of Nomad 1.6 has it: after each
// (re)load the server looks its token up, checks that it is renewable (or root), that
// it has the capabilities Nomad needs, and that the token role it creates task tokens
// from makes periodic tokens. Until that is done, task tokens wait; if it failed, they
// fail with Nomad's "failed to establish connection to Vault: ..." error.

const (
	// vaultTokenCreateTTL is how long the wrapped task token is valid (Nomad's value).
	vaultTokenCreateTTL = "60s"
	// defaultTokenTTL is the task token TTL without task_token_ttl (Nomad's value).
	defaultTokenTTL = "72h"
	// minimumTokenTTL is the shortest task_token_ttl Nomad accepts.
	minimumTokenTTL = 5 * time.Minute
	// connectionRetry is how often an unreachable or sealed Vault is retried (Nomad:
	// connection_retry_intv, 30s); the double retries faster so tests need not wait.
	connectionRetry = time.Second
)

// vaultUnrecoverableError is Nomad's structs.VaultUnrecoverableError: a Vault answer
// that retrying will not change.
var vaultUnrecoverableError = regexp.MustCompile(`Code:\s+40(0|3|4)`)

// vaultConn is the server's connection to Vault for one configuration: the outcome of
// validating its token, retried as Nomad's establishConnection retries it.
type vaultConn struct {
	done   chan struct{} // closed at the first outcome
	cancel context.CancelFunc

	mu   sync.Mutex
	err  error  // the last validation's error; nil once established
	role string // the role task tokens are created from ("" for a root token without one)
	root bool
}

// connectVault starts validating vc's server token in the background. An unreachable
// or sealed Vault is retried every second; a token that does not validate is retried
// every connection_retry_intv (30s by default, as in Nomad), so fixing Vault is enough.
func (s *Server) connectVault(vc *vaultConfig) *vaultConn {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &vaultConn{done: make(chan struct{}), cancel: cancel}
	var once sync.Once
	settle := func() { once.Do(func() { close(c.done) }) }
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer settle()
		for {
			role, root, err := validateServerToken(ctx, vc, s.logf)
			wait := vc.retryInterval()
			switch {
			case err == nil:
				c.mu.Lock()
				c.err, c.role, c.root = nil, role, root
				c.mu.Unlock()
				s.logf("Vault connection established (server token valid, role %q)", role)
				return
			case !vaultReachable(ctx, vc):
				// As Nomad: a failed validation counts only if Vault answers.
				wait = connectionRetry
			default:
				s.logf("failed to validate self token/role (retry in %s): %v", wait, err)
				c.mu.Lock()
				c.err = fmt.Errorf("failed to establish connection to Vault: %v", err)
				c.mu.Unlock()
				settle()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
	return c
}

func (c *vaultConn) stop() { c.cancel() }

// failed says whether the last validation failed.
func (c *vaultConn) failed() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err != nil
	default:
		return false
	}
}

// wait blocks until the server token has been validated once, and returns the role,
// whether the token is root, and the validation error (Nomad's CreateToken answers
// "Connection to Vault has not been established" until then, and the client retries).
func (c *vaultConn) wait(ctx context.Context) (role string, root bool, err error) {
	if c == nil {
		return "", false, errors.New("Vault integration disabled")
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return "", false, errors.New("Connection to Vault has not been established")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.role, c.root, c.err
}

// retryInterval is vault.connection_retry_intv, else Nomad's 30s.
func (c *vaultConfig) retryInterval() time.Duration {
	if d, err := time.ParseDuration(c.ConnectionRetryIntv); err == nil && d > 0 {
		return d
	}
	return 30 * time.Second
}

func vaultReachable(ctx context.Context, vc *vaultConfig) bool {
	c, err := newVaultClient(vc.address(), "", "")
	if err != nil {
		return false
	}
	h, err := c.Sys().HealthWithContext(ctx)
	return err == nil && h != nil && h.Initialized && !h.Sealed
}

// childTTL is the TTL of task tokens: task_token_ttl, else Nomad's 72h.
func (c *vaultConfig) childTTL() string {
	if c.TaskTokenTTL == "" {
		return defaultTokenTTL
	}
	return c.TaskTokenTTL
}

// checkTokenFlowConfig is what Nomad's buildClient refuses when it loads the vault
// block: the server fails to start (or the reload fails) with these errors.
func checkTokenFlowConfig(c *vaultConfig) error {
	if !c.tokenFlow() || c.TaskTokenTTL == "" {
		return nil
	}
	d, err := time.ParseDuration(c.TaskTokenTTL)
	if err != nil {
		return fmt.Errorf("failed to parse TaskTokenTTL %q: %v", c.TaskTokenTTL, err)
	}
	if d < minimumTokenTTL {
		return fmt.Errorf("ChildTokenTTL is less than minimum allowed of %v", minimumTokenTTL)
	}
	return nil
}

// tokenData is the part of a token lookup Nomad's VaultTokenData decodes.
type tokenData struct {
	CreationTTL int
	TTL         int
	Renewable   bool
	Policies    []string
	Role        string
}

func (d tokenData) isRoot() bool { return slices.Contains(d.Policies, "root") }

// validateServerToken is Nomad 1.6's parseSelfToken: it returns the role task tokens
// are created from, whether the token is root, and every reason the token cannot serve,
// in Nomad's words and order.
func validateServerToken(ctx context.Context, vc *vaultConfig, logf func(string, ...any)) (string, bool, error) {
	client, err := newVaultClient(vc.address(), vc.Token, vc.Namespace)
	if err != nil {
		return "", false, err
	}
	secret, err := lookupSelf(ctx, client, vc.Token)
	if err != nil {
		return "", false, err
	}
	var data tokenData
	data.CreationTTL = intField(secret.Data["creation_ttl"])
	data.TTL = intField(secret.Data["ttl"])
	data.Renewable, _ = secret.Data["renewable"].(bool)
	data.Role, _ = secret.Data["role"].(string)
	if ps, ok := secret.Data["policies"].([]any); ok {
		for _, p := range ps {
			if s, ok := p.(string); ok {
				data.Policies = append(data.Policies, s)
			}
		}
	}

	role := vc.Role
	if role == "" {
		role = data.Role
	}
	var mErr multierror.Error
	add := func(err error) { _ = multierror.Append(&mErr, err) }
	if !data.isRoot() {
		if !data.Renewable {
			add(errors.New("Vault token is not renewable or root"))
		}
		if data.CreationTTL == 0 {
			add(errors.New("invalid lease duration of zero"))
		}
		if data.TTL == 0 {
			add(errors.New("token TTL is zero"))
		}
		if role == "" {
			add(errors.New("token role name must be set when not using a root token"))
		}
	} else if data.CreationTTL != 0 {
		if !data.Renewable {
			add(errors.New("Vault token has a TTL but is not renewable"))
		} else if data.TTL == 0 {
			add(errors.New("token TTL is zero"))
		}
	}
	if err := validateCapabilities(ctx, client, vc, role, logf); err != nil {
		add(err)
	}
	if role != "" {
		if err := validateRole(ctx, client, role); err != nil {
			add(err)
		}
	}
	return role, data.isRoot(), mErr.ErrorOrNil()
}

// lookupSelf looks the token up through lookup-self, then through lookup, as Nomad does.
func lookupSelf(ctx context.Context, c *vaultapi.Client, token string) (*vaultapi.Secret, error) {
	secret, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil && secret != nil && secret.Data != nil {
		return secret, nil
	}
	secret, err = c.Auth().Token().LookupWithContext(ctx, token)
	switch {
	case err != nil:
		return nil, fmt.Errorf("failed to lookup Vault periodic token: %v", err)
	case secret == nil || secret.Data == nil:
		return nil, errors.New("failed to lookup Vault periodic token: got empty response")
	}
	return secret, nil
}

// validateCapabilities checks the server token's capabilities on the paths Nomad uses.
func validateCapabilities(ctx context.Context, c *vaultapi.Client, vc *vaultConfig, role string, logf func(string, ...any)) error {
	var mErr multierror.Error
	capsCapability := []string{"update", "root"}
	if _, _, err := hasCapability(ctx, c, "sys/capabilities-self", capsCapability); err != nil {
		if vaultUnrecoverableError.MatchString(err.Error()) {
			// Nomad cannot tell, so it only warns.
			logf("can not lookup token capabilities. As such certain operations may fail in the future. "+
				"Please give Nomad a Vault token with one of the following capabilities %q on %q so that the required capabilities can be verified",
				capsCapability, "sys/capabilities-self")
			return nil
		}
		_ = multierror.Append(&mErr, err)
	}
	verify := func(path string, required []string) {
		ok, caps, err := hasCapability(ctx, c, path, required)
		if err != nil {
			_ = multierror.Append(&mErr, err)
		} else if !ok {
			_ = multierror.Append(&mErr, fmt.Errorf("token must have one of the following capabilities %q on %q; has %v", required, path, caps))
		}
	}
	// allow_unauthenticated defaults to true in Nomad.
	if vc.AllowUnauthenticated != nil && !*vc.AllowUnauthenticated {
		verify("auth/token/lookup", []string{"update", "root"})
	}
	verify("auth/token/renew-self", []string{"update", "root"})
	verify("auth/token/revoke-accessor", []string{"update", "root"})
	if role != "" {
		verify("auth/token/roles/"+role, []string{"read", "root"})
		verify("auth/token/create/"+role, []string{"update", "root"})
	}
	return mErr.ErrorOrNil()
}

func hasCapability(ctx context.Context, c *vaultapi.Client, path string, required []string) (bool, []string, error) {
	caps, err := c.Sys().CapabilitiesSelfWithContext(ctx, path)
	if err != nil {
		return false, nil, err
	}
	for _, have := range caps {
		if slices.Contains(required, have) {
			return true, caps, nil
		}
	}
	return false, caps, nil
}

// validateRole checks that the token role makes renewable, periodic tokens without an
// explicit max TTL.
func validateRole(ctx context.Context, c *vaultapi.Client, role string) error {
	secret, err := c.Logical().ReadWithContext(ctx, "auth/token/roles/"+role)
	if err != nil {
		return fmt.Errorf("failed to lookup role %q: %v", role, err)
	}
	if secret == nil {
		return fmt.Errorf("Role %q does not exist", role)
	}
	renewable, _ := secret.Data["renewable"].(bool)
	var mErr multierror.Error
	if !renewable {
		_ = multierror.Append(&mErr, errors.New("Role must allow tokens to be renewed"))
	}
	if intField(secret.Data["explicit_max_ttl"]) != 0 || intField(secret.Data["token_explicit_max_ttl"]) != 0 {
		_ = multierror.Append(&mErr, errors.New("Role can not use an explicit max ttl. Token must be periodic."))
	}
	if intField(secret.Data["period"]) == 0 && intField(secret.Data["token_period"]) == 0 {
		_ = multierror.Append(&mErr, errors.New("Role must have a non-zero period to make tokens periodic."))
	}
	return mErr.ErrorOrNil()
}

// intField reads a number from a Vault answer (json.Number, or float64 if decoded
// without UseNumber).
func intField(v any) int {
	switch n := v.(type) {
	case interface{ Int64() (int64, error) }:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}
