package nomadtest

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
)

// The agent configuration is read when the double starts (New) and again on Reload,
// as a Nomad agent reads its files at start and on SIGHUP: editing the file changes
// nothing until the agent is reloaded or restarted, so a missing or failed restart
// shows (the old configuration stays in effect).

// agentFile is the part of a Nomad agent configuration file the double reads. It is
// decoded with HCL 1, as Nomad decodes its agent configuration (HCL or JSON).
type agentFile struct {
	Vault  []*vaultConfig  `hcl:"vault"`
	Server []*serverConfig `hcl:"server"`
}

// serverConfig is the part of the server {} block the double uses.
type serverConfig struct {
	OIDCIssuer string `hcl:"oidc_issuer"`
}

// identityConfig is the vault block's default_identity {} (Nomad 1.7+), the identity
// given to tasks with a vault block and no identity of their own for Vault.
type identityConfig struct {
	Audience     []string          `hcl:"aud"`
	TTL          string            `hcl:"ttl"`
	Env          *bool             `hcl:"env"`
	File         *bool             `hcl:"file"`
	ChangeMode   string            `hcl:"change_mode"`
	ChangeSignal string            `hcl:"change_signal"`
	ExtraClaims  map[string]string `hcl:"extra_claims"`
}

// agentState is the configuration in effect, and what was derived from it at load.
type agentState struct {
	vault      *vaultConfig
	oidcIssuer string
	// conn is the server's Vault connection in the token flow: the server token is
	// validated in the background after each (re)load, as Nomad 1.6's
	// establishConnection does. Nil outside the token flow.
	conn *vaultConn
}

// loadAgentConfig reads and decodes the agent configuration file. A missing file (or
// no path) means Vault is disabled; later vault blocks override earlier fields, as
// Nomad merges them.
func (s *Server) loadAgentConfig() (*vaultConfig, string, error) {
	if src := s.cfg.AgentConfigSource; src != nil {
		b, err := src()
		return decodeAgentConfig(b, err, "agent config")
	}
	path := s.cfg.AgentConfigPath
	if path == "" {
		return &vaultConfig{}, "", nil
	}
	b, err := os.ReadFile(path)
	return decodeAgentConfig(b, err, path)
}

// decodeAgentConfig decodes the agent configuration read (b, err) from path.
func decodeAgentConfig(b []byte, err error, path string) (*vaultConfig, string, error) {
	out := &vaultConfig{}
	if errors.Is(err, os.ErrNotExist) {
		return out, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("agent config: %w", err)
	}
	f, err := decodeAgentFile(string(b))
	if err != nil {
		// HCL errors quote positions, not values, so no token can leak here.
		return nil, "", fmt.Errorf("failed to decode HCL file %s: %w", path, err)
	}
	issuer := ""
	for _, s := range f.Server {
		if s.OIDCIssuer != "" {
			issuer = s.OIDCIssuer
		}
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
			{&out.JWTAuthBackendPath, v.JWTAuthBackendPath}, {&out.ConnectionRetryIntv, v.ConnectionRetryIntv},
		} {
			if kv.src != "" {
				*kv.dst = kv.src
			}
		}
		if len(v.DefaultIdentity) > 0 {
			out.DefaultIdentity = v.DefaultIdentity
		}
	}
	if len(out.DefaultIdentity) > 1 {
		return nil, "", fmt.Errorf("failed to decode HCL file %s: vault: only one default_identity block is allowed", path)
	}
	if id := out.defaultIdentity(); id != nil && id.TTL != "" {
		if _, err := time.ParseDuration(id.TTL); err != nil {
			return nil, "", fmt.Errorf("failed to decode HCL file %s: vault.default_identity.ttl: %w", path, err)
		}
	}
	if out.ConnectionRetryIntv != "" {
		if _, err := time.ParseDuration(out.ConnectionRetryIntv); err != nil {
			return nil, "", fmt.Errorf("failed to decode HCL file %s: vault.connection_retry_intv: %w", path, err)
		}
	}
	if err := checkTokenFlowConfig(out); err != nil {
		return nil, "", fmt.Errorf("failed to setup Vault client: %w", err)
	}
	return out, issuer, nil
}

// decodeAgentFile decodes the blocks the double reads. Each vault and server block is
// decoded on its own, and default_identity from the vault block's AST, as Nomad's
// config parser does: HCL 1 decoding a block with a nested block into a list splits it
// into one element per key and loses the nested block.
func decodeAgentFile(src string) (*agentFile, error) {
	file, err := hcl.ParseString(src)
	if err != nil {
		return nil, err
	}
	root, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, errors.New("error parsing: file doesn't contain a root object")
	}
	f := &agentFile{}
	for _, item := range root.Filter("server").Items {
		var sc serverConfig
		if err := hcl.DecodeObject(&sc, item.Val); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		f.Server = append(f.Server, &sc)
	}
	for _, item := range root.Filter("vault").Items {
		var vc vaultConfig
		if err := hcl.DecodeObject(&vc, item.Val); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		if obj, ok := item.Val.(*ast.ObjectType); ok {
			for _, idItem := range obj.List.Filter("default_identity").Items {
				var id identityConfig
				if err := hcl.DecodeObject(&id, idItem.Val); err != nil {
					return nil, fmt.Errorf("vault.default_identity: %w", err)
				}
				vc.DefaultIdentity = append(vc.DefaultIdentity, &id)
			}
		}
		f.Vault = append(f.Vault, &vc)
	}
	return f, nil
}

// Reload re-reads the agent configuration, as Nomad does on SIGHUP. If the file cannot
// be read or decoded, the error is returned and logged and the configuration in effect
// stays. A changed vault block takes effect at once; in the token flow the new server
// token is then validated in the background, as Nomad 1.6 does, and a token that fails
// validation fails the tasks that need a Vault token (see the task events).
func (s *Server) Reload() error {
	vc, issuer, err := s.loadAgentConfig()
	if err != nil {
		s.logf("reloading the agent configuration failed, keeping the previous one: %v", err)
		return fmt.Errorf("nomadtest: reload: %w", err)
	}
	s.applyAgentConfig(vc, issuer)
	return nil
}

// applyAgentConfig puts a loaded configuration in effect. An identical vault block
// keeps the current connection, as Nomad's vault client SetConfig ignores the same
// configuration, unless its validation failed (a reload then retries at once).
func (s *Server) applyAgentConfig(vc *vaultConfig, issuer string) {
	s.cfgMu.Lock()
	old := s.agent
	next := &agentState{vault: vc, oidcIssuer: issuer}
	if old != nil && reflect.DeepEqual(old.vault, vc) && !old.conn.failed() {
		next.conn = old.conn
	} else if vc.tokenFlow() && !s.cfg.InMemory {
		// In memory there is no Vault to validate the server token with, and no task
		// asks for a token.
		next.conn = s.connectVault(vc)
	}
	s.agent = next
	s.cfgMu.Unlock()
	if old != nil && old.conn != nil && old.conn != next.conn {
		old.conn.stop()
	}
	switch {
	case !vc.enabled():
		s.logf("agent configuration loaded: Vault disabled")
	case vc.tokenFlow():
		s.logf("agent configuration loaded: Vault at %s, token flow (Nomad %s)", vc.address(), NomadVersion)
	default:
		s.logf("agent configuration loaded: Vault at %s, workload identity flow (Nomad %s)", vc.address(), NomadVersionIdentity)
	}
}

// agentConfig returns the configuration in effect.
func (s *Server) agentConfig() *agentState {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	return s.agent
}

// readVaultConfig returns the vault block in effect: the one read at start or at the
// last successful Reload, not the file as it is now. The error is always nil; it stays
// for the callers written when the file was read on every use.
func (s *Server) readVaultConfig() (*vaultConfig, error) {
	return s.agentConfig().vault, nil
}

// version is the Nomad version the double answers as: the workload identity flow only
// exists from Nomad 1.7 (and is the only one from 1.10), so an agent configured for it
// is a 1.10 agent.
func (s *Server) version() string {
	if vc := s.agentConfig().vault; vc.enabled() && !vc.tokenFlow() {
		return NomadVersionIdentity
	}
	return NomadVersion
}

func (c *vaultConfig) defaultIdentity() *identityConfig {
	if c == nil || len(c.DefaultIdentity) == 0 {
		return nil
	}
	return c.DefaultIdentity[0]
}

// tokenFlow says whether Vault is used the Nomad 1.6 way: the server holds a token and
// derives task tokens from it. Without a token, the agent is a Nomad 1.10 one and tasks
// log in to Vault with their workload identity.
func (c *vaultConfig) tokenFlow() bool { return c.enabled() && c.Token != "" }

// jwtAuthPath is vault.jwt_auth_backend_path, "jwt-nomad" by default as in Nomad.
func (c *vaultConfig) jwtAuthPath() string {
	if c.JWTAuthBackendPath == "" {
		return "jwt-nomad"
	}
	return c.JWTAuthBackendPath
}

// identityAudience is default_identity.aud, a copy.
func (id *identityConfig) audience() []string { return slices.Clone(id.Audience) }
