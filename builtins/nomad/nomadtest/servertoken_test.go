package nomadtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// allRolesPolicy has every capability Nomad 1.6 checks, for any token role.
const allRolesPolicy = `
path "auth/token/create/*" { capabilities = ["update"] }
path "auth/token/roles/*" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`

func tokenFlowConfig(addr, role, token string) string {
	roleLine := ""
	if role != "" {
		roleLine = fmt.Sprintf("  create_from_role = %q\n", role)
	}
	return fmt.Sprintf("vault {\n  enabled = true\n  address = %q\n%s  token = %q\n}\n", addr, roleLine, token)
}

// connError waits for the double's validation of its server token.
func connError(t *testing.T, srv *Server) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := srv.agentConfig().conn.wait(ctx)
	return err
}

// Nomad 1.6 validates its server token when it loads the config: the token must be
// renewable (or root), the role it creates task tokens from must make renewable,
// periodic tokens without an explicit max TTL, and the token needs its capabilities.
func TestServerTokenValidation(t *testing.T) {
	vs := setupVault(t)
	root := vs.root
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().PutPolicy("nomad-server-all", allRolesPolicy))
	for name, role := range map[string]map[string]any{
		"r-good":       {"token_period": 3600, "renewable": true, "orphan": true},
		"r-maxttl":     {"token_period": 3600, "renewable": true, "token_explicit_max_ttl": 7200},
		"r-noperiod":   {"renewable": true, "token_ttl": 3600},
		"r-norenew":    {"token_period": 3600, "renewable": false},
		"r-everything": {"renewable": false, "token_explicit_max_ttl": 7200},
	} {
		_, err := root.Logical().Write("auth/token/roles/"+name, role)
		must(err)
	}
	token := func(req *vaultapi.TokenCreateRequest) string {
		t.Helper()
		s, err := root.Auth().Token().CreateOrphan(req)
		must(err)
		return s.Auth.ClientToken
	}
	good := token(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server-all"}, Period: "72h"})
	notRenewable := token(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server-all"}, TTL: "1h", Renewable: new(false)})
	fromRole, err := root.Auth().Token().CreateWithRole(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server-all"}}, "r-good")
	must(err)

	for _, tc := range []struct {
		name, role, token string
		want              []string // nil: valid
	}{
		{"valid", "r-good", good, nil},
		{"role from the token", "", fromRole.Auth.ClientToken, nil},
		{"root token without a role", "", vs.rootToken, nil},
		{"explicit max ttl", "r-maxttl", good, []string{"1 error occurred", "Role can not use an explicit max ttl. Token must be periodic."}},
		{"no period", "r-noperiod", good, []string{"Role must have a non-zero period to make tokens periodic."}},
		{"not renewable role", "r-norenew", good, []string{"Role must allow tokens to be renewed"}},
		{"every role fault", "r-everything", good, []string{"3 errors occurred",
			"Role must allow tokens to be renewed", "Role can not use an explicit max ttl", "Role must have a non-zero period"}},
		{"missing role", "r-missing", good, []string{`Role "r-missing" does not exist`}},
		{"token not renewable", "r-good", notRenewable, []string{"Vault token is not renewable or root"}},
		{"no role", "", good, []string{"token role name must be set when not using a root token"}},
		{"weak token", testRole, vs.weakToken, []string{
			`token must have one of the following capabilities ["update" "root"] on "auth/token/revoke-accessor"; has [deny]`,
			`token must have one of the following capabilities ["update" "root"] on "auth/token/create/` + testRole + `"; has [deny]`,
			`failed to lookup role "` + testRole + `"`}},
		{"unknown token", "r-good", "hvs.not-a-real-token", []string{"failed to lookup Vault periodic token", "permission denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "nomad.hcl")
			writeFile(t, cfg, tokenFlowConfig(vs.addr, tc.role, tc.token))
			srv, _ := newDouble(t, Config{AgentConfigPath: cfg})
			err := connError(t, srv)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("valid token refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no validation error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "failed to establish connection to Vault: ") {
				t.Errorf("error %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, tc.token) {
				t.Error("the error shows the token")
			}
			// A fixed config, once reloaded, connects.
			writeFile(t, cfg, tokenFlowConfig(vs.addr, "r-good", good))
			if err := srv.Reload(); err != nil {
				t.Fatal(err)
			}
			if err := connError(t, srv); err != nil {
				t.Errorf("after fixing the config: %v", err)
			}
		})
	}
}

// A validation that failed is retried by a reload of the same config (Nomad retries
// it on its own every 30s): fixing Vault, then reloading, is enough.
func TestServerTokenRevalidatedOnReload(t *testing.T) {
	vs := setupVault(t)
	if err := vs.root.Sys().PutPolicy("nomad-server-all", allRolesPolicy); err != nil {
		t.Fatal(err)
	}
	s, err := vs.root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server-all"}, Period: "72h"})
	if err != nil {
		t.Fatal(err)
	}
	role := "r-later-" + uuid()[:8]
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, tokenFlowConfig(vs.addr, role, s.Auth.ClientToken))
	srv, _ := newDouble(t, Config{AgentConfigPath: cfg})
	if err := connError(t, srv); err == nil || !strings.Contains(err.Error(), `Role "`+role+`" does not exist`) {
		t.Fatalf("before the role exists: %v", err)
	}
	if _, err := vs.root.Logical().Write("auth/token/roles/"+role, map[string]any{"token_period": 3600, "renewable": true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := connError(t, srv); err != nil {
		t.Fatalf("after creating the role and reloading: %v", err)
	}
}

// Without a reload, a failed validation is retried every connection_retry_intv.
func TestServerTokenRevalidatedOnRetryInterval(t *testing.T) {
	vs := setupVault(t)
	if err := vs.root.Sys().PutPolicy("nomad-server-all", allRolesPolicy); err != nil {
		t.Fatal(err)
	}
	s, err := vs.root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server-all"}, Period: "72h"})
	if err != nil {
		t.Fatal(err)
	}
	role := "r-retry-" + uuid()[:8]
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, strings.Replace(tokenFlowConfig(vs.addr, role, s.Auth.ClientToken), "vault {\n", "vault {\n  connection_retry_intv = \"100ms\"\n", 1))
	srv, _ := newDouble(t, Config{AgentConfigPath: cfg})
	if err := connError(t, srv); err == nil || !strings.Contains(err.Error(), `Role "`+role+`" does not exist`) {
		t.Fatalf("before the role exists: %v", err)
	}
	if _, err := vs.root.Logical().Write("auth/token/roles/"+role, map[string]any{"token_period": 3600, "renewable": true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the retried validation", func() (bool, string) {
		err := connError(t, srv)
		return err == nil, fmt.Sprint(err)
	})
}
