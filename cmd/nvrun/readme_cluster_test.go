package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/internal/localstack"
	"github.com/nvrun/nvrun/internal/testserver"
)

// readmeClusterBlock returns the shell block of the README's "Against a real cluster"
// section: its export line's variables, and the nvrun command lines' arguments.
func readmeClusterBlock(t *testing.T) (env map[string]string, commands [][]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testserver.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "**3. Against a real cluster.**")
	if !ok {
		t.Fatal(`README.md has no "Against a real cluster" section`)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal(`the "Against a real cluster" section has no sh block`)
	}
	env = map[string]string{}
	for _, line := range strings.Split(block, "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case fields[0] == "export":
			for _, kv := range fields[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("README: export %q has no value", kv)
				}
				env[k] = v
			}
		case fields[0] == "nvrun":
			commands = append(commands, fields[1:])
		default:
			t.Fatalf("README: the block has a line this test cannot run: %q", line)
		}
	}
	return env, commands
}

// TestReadmeAgainstRealCluster runs the README's "Against a real cluster" block as
// written, against the local stack with a Vault initialised and unsealed out of band
// (and no keys file): the example addresses, token and agent config path are replaced
// by the stack's, and each command gets the local var files, which run the jobs with
// raw_exec instead of Docker (there is no Docker here). Nothing else is added: no keys
// file, no NVRUN_* variable.
func TestReadmeAgainstRealCluster(t *testing.T) {
	env, commands := readmeClusterBlock(t)
	if len(commands) != 3 {
		t.Fatalf("README block has %d nvrun commands, this test expects plan, apply, plan: %v", len(commands), commands)
	}
	stack, err := localstack.Start("", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	rootToken, unsealKeys, err := stack.Vault.InitUnseal() // someone else's init
	if err != nil {
		t.Fatal(err)
	}
	initialConfig, err := os.ReadFile(stack.AgentConfig)
	if err != nil {
		t.Fatal(err)
	}
	vaultProxy := newCountingProxy(t, stack.Vault.Addr)

	// Every example value of the block, and what stands in for it here. A value the
	// README has that is not here, or that is here but no longer in the README, fails.
	stand := map[string]string{
		"https://vault.example:8200": vaultProxy.srv.URL,
		"hvs.example-token":          rootToken,
		"https://nomad.example:4646": stack.Nomad.URL,
		"consul.example:8500":        stack.Consul.HTTPAddr,
		"/etc/nomad.d/nomad.hcl":     stack.AgentConfig,
	}
	used := map[string]bool{}
	subst := func(s string) string {
		for from, to := range stand {
			if strings.Contains(s, from) {
				used[from] = true
				s = strings.ReplaceAll(s, from, to)
			}
		}
		if strings.Contains(s, "example") {
			t.Fatalf("README value %q has an example part this test does not stand in for", s)
		}
		return s
	}
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + stack.Dir}
	for k, v := range env {
		environ = append(environ, k+"="+subst(v))
	}
	var local []string
	for _, f := range stack.VarFiles() {
		local = append(local, "--var-file", f)
	}
	runCmd := func(i int) cli {
		t.Helper()
		args := append(append([]string(nil), local...), commands[i]...)
		for j := range args {
			args[j] = subst(args[j])
		}
		res := nvrun(t, nil, environ, args...)
		for _, out := range []string{res.stdout, res.stderr} {
			for _, s := range append([]string{rootToken}, unsealKeys...) {
				if strings.Contains(out, s) {
					t.Fatalf("command %d leaks a secret (%d chars)", i+1, len(s))
				}
			}
		}
		return res
	}
	// 1. The plan: exit 0, steps 1-3 unchanged, nothing written.
	vaultProxy.take()
	res := runCmd(0)
	if res.code != 0 {
		t.Fatalf("README command 1 (plan): exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "initialised elsewhere") {
		t.Errorf("plan does not say Vault was initialised elsewhere:\n%s", res.stdout)
	}
	if w := writes(vaultProxy.take()); len(w) != 0 {
		t.Errorf("the plan wrote to Vault: %v", w)
	}
	if now, _ := os.ReadFile(stack.AgentConfig); string(now) != string(initialConfig) {
		t.Error("the plan changed the agent config")
	}

	// 2. Apply: the whole guide, for real.
	res = runCmd(1)
	if res.code != 0 {
		t.Fatalf("README command 2 (apply): exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	e := &e2e{t: t, stack: stack}
	e.checkTaskToken("nomad-cluster", "access-tables")
	e.checkDynamicCredentials()
	e.checkNamesPage()
	if _, err := os.Stat(filepath.Join(testserver.RepoRoot(), "vault-keys.json")); err == nil {
		t.Error("apply wrote a keys file for a Vault initialised elsewhere")
	}

	// 3. The plan again: exit 0 under --detailed-exitcode, so nothing left to do.
	res = runCmd(2)
	if res.code != 0 {
		t.Fatalf("README command 3 (plan --detailed-exitcode): exit %d, want 0\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	// "A second run reports 0 changes": the apply command again.
	vaultProxy.take()
	res = runCmd(1)
	if res.code != 0 || !strings.Contains(res.stdout, "Apply complete: 0 created, 0 updated, 0 deleted, 0 called") {
		t.Fatalf("second apply: exit %d, want 0 changes\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	// Its one write is step 12's lease revocation of the credentials it reads.
	if got := strings.Join(writes(vaultProxy.take()), ", "); got != "PUT /v1/sys/leases/revoke" {
		t.Errorf("second apply wrote to Vault: %s", got)
	}
	for from := range stand {
		if !used[from] {
			t.Errorf("the README block no longer has %q: update this test", from)
		}
	}
}
