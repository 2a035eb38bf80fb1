// Package localstack stands up everything the guide needs on one machine, on loopback:
// a real, uninitialised Vault 1.14.1, a real Consul 1.16.0 agent, the Nomad API double
// (builtins/nomad/nomadtest: there is no real Nomad here) with an agent config file, and
// the demo web app built from this repo. The end-to-end test and `make demo` share it.
package localstack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
	"github.com/nvrun/nvrun/internal/testserver"
)

// Stack is a running local guide environment. Close stops everything by PID.
type Stack struct {
	Dir         string
	Vault       *testserver.Vault
	Consul      *testserver.Consul
	Nomad       *nomadtest.Server
	AgentConfig string // the Nomad server agent config whose vault {} block step 7 edits
	KeysFile    string // where vault.init writes the keys (0600)
	VarFile     string // machine-specific vars: paths, ports, addresses
	// IdentityVarFile holds what only scripts/workload-identity.star declares: where
	// Vault fetches the double's signing keys (jwks_url).
	IdentityVarFile string
}

// initialAgentConfig is a Nomad server config as an operator would have it before the
// guide: comments and other blocks that step 7 must keep as they are.
const initialAgentConfig = `# Nomad server agent configuration (managed by hand; nvrun edits only vault {}).
data_dir = "/opt/nomad/data"
bind_addr = "127.0.0.1"

server {
  enabled          = true
  bootstrap_expect = 1 # a single server, as in the guide
}

consul {
  address = "127.0.0.1:8500"
}
`

// Start brings the stack up in a fresh directory under dir.
func Start(dir string, logf func(string, ...any)) (s *Stack, err error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// Directories the postgres user must traverse (the db task runs as postgres).
	root, err := os.MkdirTemp(dir, "stack-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	s = &Stack{Dir: root, AgentConfig: filepath.Join(root, "nomad.hcl"), KeysFile: filepath.Join(root, "vault-keys.json")}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, d := range []string{"vault", "consul", "nomad", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(s.AgentConfig, []byte(initialAgentConfig), 0o644); err != nil {
		return nil, err
	}
	webapp, dbTask, err := buildDemo(filepath.Join(root, "bin"))
	if err != nil {
		return nil, err
	}
	if s.Vault, err = testserver.StartVault(filepath.Join(root, "vault")); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	logf("vault listening at %s (uninitialised)", s.Vault.Addr)
	if s.Consul, err = testserver.StartConsul(filepath.Join(root, "consul")); err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	logf("consul agent at %s, DNS at %s", s.Consul.HTTPAddr, s.Consul.DNSAddr)
	if s.Nomad, err = nomadtest.New(nomadtest.Config{
		AgentConfigPath: s.AgentConfig,
		ConsulAddr:      s.Consul.HTTPAddr,
		DataDir:         filepath.Join(root, "nomad"),
	}); err != nil {
		return nil, fmt.Errorf("nomad double: %w", err)
	}
	// As a Nomad agent, the double reads its config at start and on SIGHUP: the guide's
	// on_change (restart_command) signals this process, so a missing or failed reload
	// shows as it would on a real cluster.
	s.Nomad.ReloadOnSIGHUP()
	logf("nomad API double at %s (reloads its agent config on SIGHUP to pid %d)", s.Nomad.URL, os.Getpid())
	dbPort, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	vars := map[string]any{
		"agent_config":    s.AgentConfig,
		"restart_command": s.Nomad.ReloadCommand(),
		"vault_address":   s.Vault.Addr,
		"db_port":         dbPort,
		"db_task_config":  map[string]any{"command": "/bin/sh", "args": []string{dbTask}},
		"web_task_config": map[string]any{"command": webapp},
	}
	s.VarFile = filepath.Join(root, "local-paths.json")
	b, _ := json.MarshalIndent(vars, "", "  ")
	if err := os.WriteFile(s.VarFile, b, 0o644); err != nil {
		return nil, err
	}
	s.IdentityVarFile = filepath.Join(root, "local-identity.json")
	b, _ = json.MarshalIndent(map[string]any{"jwks_url": s.Nomad.URL + "/.well-known/jwks.json"}, "", "  ")
	if err := os.WriteFile(s.IdentityVarFile, b, 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

// Env is the environment nvrun runs the guide with: the usual client variables.
func (s *Stack) Env() []string {
	return []string{
		"VAULT_ADDR=" + s.Vault.Addr,
		"CONSUL_HTTP_ADDR=" + s.Consul.HTTPAddr,
		"CONSUL_DNS_ADDR=" + s.Consul.DNSAddr,
		"NOMAD_ADDR=" + s.Nomad.URL,
		"NVRUN_KEYS_FILE=" + s.KeysFile,
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.Dir,
	}
}

// VarFiles are the --var-file arguments for a local run: the committed local profile,
// then this machine's paths and ports.
func (s *Stack) VarFiles() []string {
	return []string{filepath.Join(testserver.RepoRoot(), "scripts", "local.json"), s.VarFile}
}

// IdentityVarFiles are the --var-file arguments for a local run of
// scripts/workload-identity.star: VarFiles, then the double's jwks_url.
func (s *Stack) IdentityVarFiles() []string {
	return append(s.VarFiles(), s.IdentityVarFile)
}

// Close stops the double (killing its tasks), Consul and Vault, and removes the dir.
func (s *Stack) Close() {
	if s.Nomad != nil {
		s.Nomad.Close()
	}
	if s.Consul != nil {
		_ = s.Consul.Stop()
	}
	if s.Vault != nil {
		s.Vault.Stop()
	}
	os.RemoveAll(s.Dir)
}

// buildDemo builds the demo web app and copies the database task script where the
// postgres user can read it.
func buildDemo(bin string) (webapp, dbTask string, err error) {
	root := testserver.RepoRoot()
	webapp = filepath.Join(bin, "webapp")
	cmd := exec.Command("go", "build", "-o", webapp, "./testdata/demo/webapp")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build the demo web app: %v\n%s", err, out)
	}
	src, err := os.ReadFile(filepath.Join(root, "testdata", "demo", "postgres-task.sh"))
	if err != nil {
		return "", "", err
	}
	dbTask = filepath.Join(bin, "postgres-task.sh")
	if err := os.WriteFile(dbTask, src, 0o755); err != nil {
		return "", "", err
	}
	return webapp, dbTask, nil
}
