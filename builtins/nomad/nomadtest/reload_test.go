package nomadtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// An agent config for the workload identity flow: Vault without a token. The address
// need not answer for these tests (nothing logs in).
const identityAgentConfig = `server {
  enabled = true
}

vault {
  enabled               = true
  address               = "http://127.0.0.1:1"
  jwt_auth_backend_path = "jwt-nomad"
  create_from_role      = "nomad-workloads"
  default_identity {
    aud = ["vault.io"]
    ttl = "1h"
  }
}
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func agentVersion(t *testing.T, client *api.Client) string {
	t.Helper()
	self, err := client.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	return self.Config["Version"].(map[string]any)["Version"].(string)
}

// vaultPolicyJob is a job with a vault block, for registration checks only.
func vaultPolicyJob(id string) *api.Job {
	job := rawJob(id, "exec sleep 1000")
	job.TaskGroups[0].Tasks[0].Vault = &api.Vault{Policies: []string{"access-tables"}}
	return job
}

func TestAgentConfigTakesEffectOnReloadOnly(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, "server {\n  enabled = true\n}\n")
	srv, client := newDouble(t, Config{AgentConfigPath: cfg})
	if v := agentVersion(t, client); v != NomadVersion {
		t.Fatalf("version without vault: %s", v)
	}

	// Editing the file changes nothing: a forgotten restart shows.
	writeFile(t, cfg, identityAgentConfig)
	if _, _, err := client.Jobs().Register(vaultPolicyJob("a"), nil); err == nil || !strings.Contains(err.Error(), "Vault not enabled but used in the job") {
		t.Fatalf("register before the reload: %v", err)
	}
	if v := agentVersion(t, client); v != NomadVersion {
		t.Fatalf("version before the reload: %s", v)
	}

	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := agentVersion(t, client); v != NomadVersionIdentity {
		t.Fatalf("version after the reload: %s", v)
	}
	if _, _, err := client.Jobs().Register(vaultPolicyJob("a"), nil); err != nil {
		t.Fatalf("register after the reload: %v", err)
	}

	// A file that does not decode: the reload fails and the old config stays.
	writeFile(t, cfg, "vault {\n  enabled = \n}\n")
	err := srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "failed to decode HCL file "+cfg) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if v := agentVersion(t, client); v != NomadVersionIdentity {
		t.Fatalf("version after a failed reload: %s", v)
	}
	if _, _, err := client.Jobs().Register(vaultPolicyJob("b"), nil); err != nil {
		t.Fatalf("register after a failed reload: %v", err)
	}
}

func TestNewRefusesAgentConfigNomadWouldNotLoad(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
	}{
		{"syntax", "client {\n  enabled = \n}\n", "failed to decode HCL file"},
		{"identity ttl", "vault {\n  enabled = true\n  default_identity {\n    ttl = \"an hour\"\n  }\n}\n", "vault.default_identity.ttl"},
		{"task token ttl", "vault {\n  enabled = true\n  token = \"s.x\"\n  task_token_ttl = \"1m\"\n}\n", "ChildTokenTTL is less than minimum allowed of 5m0s"},
		{"task token ttl syntax", "vault {\n  enabled = true\n  token = \"s.x\"\n  task_token_ttl = \"soon\"\n}\n", `failed to parse TaskTokenTTL "soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "nomad.hcl")
			writeFile(t, cfg, tc.config)
			srv, err := New(Config{AgentConfigPath: cfg, DataDir: t.TempDir()})
			if err == nil {
				srv.Close()
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s.x") {
				t.Fatal("the error shows the token")
			}
		})
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	srv, client := newDouble(t, Config{AgentConfigPath: cfg})
	stop := srv.ReloadOnSIGHUP()
	defer stop()
	writeFile(t, cfg, identityAgentConfig)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the reload", func() (bool, string) {
		v := agentVersion(t, client)
		return v == NomadVersionIdentity, v
	})
	// After stop, SIGHUP is still caught (not the default action, which would kill the
	// test binary) but no longer reloads.
	stop()
	writeFile(t, cfg, "")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil { // a direct reload still works
		t.Fatal(err)
	}
	if v := agentVersion(t, client); v != NomadVersion {
		t.Fatalf("version after reloading an empty config: %s", v)
	}
}

// Nomad reads JSON agent configs too (HCL 1 decodes both).
func TestAgentConfigJSON(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.json")
	writeFile(t, cfg, `{
  "server": {"enabled": true, "oidc_issuer": "https://nomad.example"},
  "vault": {
    "enabled": true,
    "address": "http://127.0.0.1:1",
    "jwt_auth_backend_path": "jwt-nomad",
    "default_identity": {"aud": ["vault.io"], "ttl": "1h"}
  }
}`)
	srv, client := newDouble(t, Config{AgentConfigPath: cfg})
	if v := agentVersion(t, client); v != NomadVersionIdentity {
		t.Fatalf("version %s", v)
	}
	state := srv.agentConfig()
	if id := state.vault.defaultIdentity(); id == nil || id.TTL != "1h" || len(id.Audience) != 1 || id.Audience[0] != "vault.io" {
		t.Errorf("default_identity %+v", id)
	}
	if state.oidcIssuer != "https://nomad.example" {
		t.Errorf("oidc_issuer %q", state.oidcIssuer)
	}
}

// ReloadCommand returns only once the double has reloaded: the very next request sees
// the new configuration, with no polling (a bare `kill -HUP` raced it).
func TestReloadCommandWaitsForTheReload(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	srv, client := newDouble(t, Config{AgentConfigPath: cfg})
	srv.reloads.delay = 200 * time.Millisecond // a slow agent: the command must wait it out
	defer srv.ReloadOnSIGHUP()()
	for i, want := range []string{NomadVersionIdentity, NomadVersion, NomadVersionIdentity} {
		text := ""
		if want == NomadVersionIdentity {
			text = identityAgentConfig
		}
		writeFile(t, cfg, text)
		cmd := srv.ReloadCommand()
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("reload %d: %v: %s", i, err, out)
		}
		if v := agentVersion(t, client); v != want {
			t.Fatalf("reload %d: version right after the command = %s, want %s", i, v, want)
		}
	}
}
