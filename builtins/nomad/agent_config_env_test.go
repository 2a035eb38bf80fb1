package nomad

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// The on_change command gets an explicit environment: PATH, HOME, LANG and the like,
// and NVRUN_AGENT_CONFIG; never nvrun's tokens, whether they come from the run's
// environment or the process's.
func TestAgentConfigOnChangeEnvironment(t *testing.T) {
	const vaultToken, nomadToken = "hvs.ENV-vault-token-3333", "nomad-secret-id-4444"
	t.Setenv("VAULT_TOKEN", vaultToken) // the process environment, which exec.Cmd would inherit
	t.Setenv("NOMAD_TOKEN", nomadToken)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	out := filepath.Join(dir, "env")
	script := agentScript(t, cfg, `, on_change = ["/bin/sh", "-c", "env > `+out+`"]`)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/op", "LANG=C.UTF-8",
		"VAULT_TOKEN=" + vaultToken, "NOMAD_TOKEN=" + nomadToken, "CONSUL_HTTP_TOKEN=consul-secret", "NVRUN_VAR_tok=" + newToken}
	r := runScript(t, script, runConfig{mode: runtime.Apply, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	got := mustRead(t, out)
	mustContain(t, "on_change environment", got, "NVRUN_AGENT_CONFIG="+cfg+"\n", "HOME=/home/op\n", "LANG=C.UTF-8\n", "PATH="+os.Getenv("PATH")+"\n")
	mustNotContain(t, "on_change environment", got, vaultToken, nomadToken, "consul-secret", newToken, "VAULT_TOKEN", "NOMAD_TOKEN")
	// The shell adds a few of its own; nothing else may appear.
	allowed := append([]string{"NVRUN_AGENT_CONFIG", "PWD", "SHLVL", "_", "OLDPWD"}, onChangePassed...)
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		name, _, _ := strings.Cut(line, "=")
		if !slices.Contains(allowed, name) {
			t.Errorf("on_change got %s", name)
		}
	}
}

// Without a PATH in nvrun's environment, the command still gets a usual one.
func TestAgentConfigOnChangeDefaultPath(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	out := filepath.Join(dir, "env")
	script := agentScript(t, cfg, `, on_change = ["/bin/sh", "-c", "echo \"$PATH\" > `+out+`"]`)
	r := runScript(t, script, runConfig{mode: runtime.Apply, vars: []string{"tok="}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if got := strings.TrimSpace(mustRead(t, out)); got != defaultPath {
		t.Errorf("PATH %q, want %q", got, defaultPath)
	}
}
