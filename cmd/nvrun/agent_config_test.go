package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/internal/testserver"
)

// serverAgentConfig is a Nomad server config before the guide, as in internal/localstack.
const serverAgentConfig = `# Nomad server agent configuration
data_dir = "/opt/nomad/data"
bind_addr = "127.0.0.1"

server {
  enabled          = true
  bootstrap_expect = 1
}

consul {
  address = "127.0.0.1:8500"
}
`

// TestGuideRefusesAgentConfigNomadCannotLoad runs the guide, plan and apply, from an
// uninitialised real Vault with an agent config Nomad could not load (issue 14). It must
// fail before the first write, naming file:line:col: Vault not initialised, no keys
// file, no token minted, the config as it was.
func TestGuideRefusesAgentConfigNomadCannotLoad(t *testing.T) {
	v, err := testserver.StartVault(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	conf := vaultapi.DefaultConfig()
	conf.Address = v.Addr
	vc, err := vaultapi.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, src, at string }{
		{"client without value", serverAgentConfig + "client { enabled = }\n", ":13:20: "},
		{"unclosed server block", strings.Replace(serverAgentConfig, "  bootstrap_expect = 1\n}\n", "  bootstrap_expect = 1\n", 1), ":12:2: "},
		{"garbage line", strings.Replace(serverAgentConfig, "consul {", "garbage\nconsul {", 1), ":10:1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".hcl")
			if err := os.WriteFile(cfg, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			keys := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+"-keys.json")
			env := []string{"VAULT_ADDR=" + v.Addr, "NOMAD_ADDR=http://127.0.0.1:1", "CONSUL_HTTP_ADDR=127.0.0.1:1",
				"NVRUN_KEYS_FILE=" + keys, "HOME=/nonexistent"}
			for _, mode := range []string{"--plan", "apply"} {
				args := []string{"--var", "agent_config=" + cfg, "--var", "restart_command=[\"/bin/false\"]"}
				if mode == "--plan" {
					args = append(args, mode)
				}
				res := nvrun(t, nil, env, append(args, "scripts/guide.star")...)
				if res.code != 1 {
					t.Fatalf("%s: exit %d, want 1\n%s%s", mode, res.code, res.stdout, res.stderr)
				}
				if !strings.Contains(res.stderr, cfg+tc.at+"Nomad could not load this agent config") {
					t.Errorf("%s: stderr does not name %s%s:\n%s", mode, cfg, tc.at, res.stderr)
				}
				init, err := vc.Sys().InitStatus()
				if err != nil {
					t.Fatal(err)
				}
				if init {
					t.Fatalf("%s: Vault was initialised", mode)
				}
				if _, err := os.Stat(keys); err == nil {
					t.Fatalf("%s: a keys file was written", mode)
				}
				if b, _ := os.ReadFile(cfg); string(b) != tc.src {
					t.Fatalf("%s: the agent config changed:\n%s", mode, b)
				}
			}
		})
	}
}
