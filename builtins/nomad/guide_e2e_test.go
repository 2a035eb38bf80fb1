package nomad_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// The guide's steps 6, 7 and 14 as the report hands them out, with raw_exec instead of
// docker and a KV secret instead of the database: the server token is reused from the
// agent config, the agent config's vault block is written, and the web job's template
// is rendered by the double with a task token derived from the token role.
const guideE2E = `
agent_config = var("agent_config", "")
restart_command = var("restart_command", ["true"])
vault_address = var("vault_address", "")
server_policy = var("server_policy", "nomad-server")
token_role = var("token_role", "nomad-cluster")
task_policy = var("task_policy", "access-tables")
secret_path = var("secret_path", "kv/app")

step("Generate the token for the Nomad server")
current = nomad.agent_config_read(agent_config)
server_token = vault.token(policies = [server_policy], period = "72h", orphan = True, reuse = current.token)

step("Edit the Nomad server configuration to enable Vault integration")
nomad.agent_config(agent_config, vault = {
    "enabled": True,
    "address": vault_address,
    "task_token_ttl": "1h",
    "create_from_role": token_role,
    "token": server_token.token,
    "namespace": "",
}, on_change = restart_command)

step("Deploy your job with the appropriate policy and templating")
web = nomad.job("nomad-vault-demo", datacenters = ["dc1"], groups = [nomad.group("demo",
    update = {"min_healthy_time": "1s"},
    restart = {"attempts": 0, "mode": "fail"},
    network = nomad.network(ports = {"http": None}),
    tasks = [nomad.task("server", driver = "raw_exec",
        config = {"command": "/bin/sleep", "args": ["300"]},
        vault = nomad.vault(policies = [task_policy]),
        templates = [nomad.template(destination = "secrets/config.json", data = """{{ with secret "%s" }}
{"username": "{{ .Data.username }}", "password": {{ .Data.password | toJSON }}}
{{ end }}""" % secret_path)],
    )],
)])
r = nomad.run(web, timeout = "60s")
print("alloc:", r.allocations[0].id)
`

type vaultFixture struct {
	addr, root string
	c          *vaultapi.Client
}

func setupGuideVault(t *testing.T) vaultFixture {
	t.Helper()
	addr, root := startVault(t)
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(root)
	serverPolicy := `
path "auth/token/create/nomad-cluster" { capabilities = ["update"] }
path "auth/token/roles/nomad-cluster" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Sys().PutPolicy("nomad-server", serverPolicy))
	must(c.Sys().PutPolicy("weak-server", `path "auth/token/lookup-self" { capabilities = ["read"] }`))
	must(c.Sys().PutPolicy("access-tables", `path "kv/app" { capabilities = ["read"] }
path "kv/missing" { capabilities = ["read"] }`))
	_, err = c.Logical().Write("auth/token/roles/nomad-cluster", map[string]any{
		"allowed_policies": "access-tables", "token_explicit_max_ttl": 0, "orphan": true, "token_period": 259200, "renewable": true,
	})
	must(err)
	must(c.Sys().Mount("kv", &vaultapi.MountInput{Type: "kv"}))
	_, err = c.Logical().Write("kv/app", map[string]any{"username": "v-app", "password": `p"w\d`})
	must(err)
	return vaultFixture{addr: addr, root: root, c: c}
}

// execGuide runs script with the vault module and a fast-polling nomad module. It
// returns the progress followed by the plan (or apply summary), and the error as the
// CLI prints it, redacted: what a user would see.
func execGuide(t *testing.T, script string, mode runtime.Mode, env, vars []string) (*runtime.Result, string, error) {
	t.Helper()
	r := runtimetest.Exec(t, script, runtimetest.ExecOptions{
		Mode: mode, Environ: env, Vars: vars,
		Modules: []runtime.Module{vault.Module(vault.Options{}), nomad.Module(nomad.Options{PollInterval: 100 * time.Millisecond})},
	})
	var err error
	if r.Err != nil {
		err = errors.New(r.ErrMsg)
	}
	return r.Res, r.Out + r.Plan, err
}

func TestGuideStepsAgainstVaultAndDouble(t *testing.T) {
	start := time.Now()
	vf := setupGuideVault(t)
	dir := t.TempDir()
	agentConfig := filepath.Join(dir, "nomad.hcl")
	if err := os.WriteFile(agentConfig, []byte("# server\nserver {\n  enabled = true\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: agentConfig, DataDir: filepath.Join(dir, "data"), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.ReloadOnSIGHUP()
	script := filepath.Join(dir, "guide.star")
	if err := os.WriteFile(script, []byte(guideE2E), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "restarts")
	env := []string{"VAULT_ADDR=" + vf.addr, "VAULT_TOKEN=" + vf.root, "NOMAD_ADDR=" + srv.URL}
	vars := []string{"agent_config=" + agentConfig, "vault_address=" + vf.addr,
		restartVar(srv, marker)}

	// The plan: a token to mint, the vault block to write, the job to create, and the
	// template checked against access-tables. Nomad cannot plan the job yet: it runs
	// without Vault until the planned vault block is applied, and says so.
	_, plan, err := execGuide(t, script, runtime.Plan, env, vars)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`+ vault.token: (known after apply)`, `+  nomad job "nomad-vault-demo"`,
		"# template reads kv/app: granted by access-tables",
		`# not planned with Nomad until nomad agent_config "` + agentConfig + `" is applied; Nomad said:`, "Vault not enabled but used in the job"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}

	_, out, err := execGuide(t, script, runtime.Apply, env, vars)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, vf.root) {
		t.Fatal("the root token leaked")
	}
	i := strings.Index(out, "alloc: ")
	if i < 0 {
		t.Fatalf("no alloc id:\n%s", out)
	}
	allocID := strings.Fields(out[i+len("alloc: "):])[0]
	rendered, err := os.ReadFile(filepath.Join(srv.TaskDir(allocID, "server"), "secrets", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"username": "v-app", "password": "p\"w\\d"}`; !strings.Contains(string(rendered), want) {
		t.Errorf("rendered template %q lacks %q", rendered, want)
	}
	cfg, _ := os.ReadFile(agentConfig)
	if !strings.HasPrefix(string(cfg), "# server\nserver {\n  enabled = true\n}\n\nvault {\n") || !strings.Contains(string(cfg), `create_from_role = "nomad-cluster"`) {
		t.Errorf("agent config:\n%s", cfg)
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("on_change ran %q", b)
	}

	// Now a live plan is Nomad's own, and finds nothing to do.
	res, plan, err := execGuide(t, script, runtime.Plan, env, vars)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Summary(); s.Create+s.Update+s.Delete != 0 || s.Unchanged != 3 {
		t.Errorf("plan after apply: %+v\n%s", s, plan)
	}

	// Again: the token in the config is reused, the config and the job are unchanged.
	res, out, err = execGuide(t, script, runtime.Apply, env, vars)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s := res.Summary(); s.Create+s.Update+s.Delete != 0 {
		t.Errorf("second apply changed things: %+v\n%s", s, out)
	}
	if n := srv.Registrations("nomad-vault-demo"); n != 1 {
		t.Errorf("registrations = %d, want 1", n)
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("on_change ran again: %q", b)
	}
	t.Logf("guide steps 6, 7, 14 planned, applied and re-applied in %s", time.Since(start).Round(time.Millisecond))
}

// A server token whose policy cannot create tokens under the role: Nomad cannot derive
// the task's Vault token, and nomad.run's error says so with the task's events.
func TestGuideTaskTokenDerivationFails(t *testing.T) {
	vf, out, err := applyGuideFailing(t, 0, "server_policy=weak-server",
		`nomad job "nomad-vault-demo"`, "failed to derive vault token", "auth/token/create/nomad-cluster")
	if strings.Contains(err.Error()+out, vf.root) {
		t.Fatal("the root token leaked")
	}
	t.Logf("the error:\n%s", err)
}

// A template whose secret does not exist: the policy grants it (so the preflight
// passes), but the template never renders, and the error shows Nomad's "Template
// failed" event.
func TestGuideTemplateFails(t *testing.T) {
	_, _, err := applyGuideFailing(t, 2*time.Second, "secret_path=kv/missing",
		`nomad job "nomad-vault-demo"`, "Template failed", "kv/missing")
	t.Logf("the error:\n%s", err)
}

// restartVar is the restart_command var for a double in this process: it signals the
// process and waits until the double has reloaded its agent config (ReloadOnSIGHUP,
// ReloadCommand), as `systemctl restart nomad` returns once the agent is back; with a
// marker file, it also records each run there.
func restartVar(srv *nomadtest.Server, marker string) string {
	cmd := srv.ReloadCommand()
	if marker != "" {
		cmd[len(cmd)-1] = "echo restarted >> " + marker + " && " + cmd[len(cmd)-1]
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(cmd)
	return "restart_command=" + strings.TrimSpace(b.String())
}

// applyGuideFailing applies the guide against a fresh Vault and a Nomad double whose
// templates time out after templateTimeout (0: the double's default), with extraVar
// besides the agent config and Vault address. The apply must fail with an error that
// holds every one of wants; it returns the Vault, the output and that error.
func applyGuideFailing(t *testing.T, templateTimeout time.Duration, extraVar string, wants ...string) (vaultFixture, string, error) {
	t.Helper()
	vf := setupGuideVault(t)
	dir := t.TempDir()
	agentConfig := filepath.Join(dir, "nomad.hcl")
	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: agentConfig, DataDir: filepath.Join(dir, "data"), Logf: t.Logf, TemplateTimeout: templateTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.ReloadOnSIGHUP()
	script := filepath.Join(dir, "guide.star")
	if err := os.WriteFile(script, []byte(guideE2E), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"VAULT_ADDR=" + vf.addr, "VAULT_TOKEN=" + vf.root, "NOMAD_ADDR=" + srv.URL}
	vars := []string{"agent_config=" + agentConfig, "vault_address=" + vf.addr, restartVar(srv, ""), extraVar}
	_, out, err := execGuide(t, script, runtime.Apply, env, vars)
	if err == nil {
		t.Fatalf("no error:\n%s", out)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	return vf, out, err
}

// TestGuideSnippet applies testdata/guide_steps.star, exactly as the report hands it to
// scripts/guide.star (docker jobs, which the double simulates), after the guide's own
// var() declarations: Vault holds what steps 4, 5, 9-13 would have written (the
// database "creds" are a KV secret at the same path).
func TestGuideSnippet(t *testing.T) {
	start := time.Now()
	vf := setupGuideVault(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(vf.c.Sys().PutPolicy("access-tables", `path "database/creds/accessdb" { capabilities = ["read"] }`))
	must(vf.c.Sys().Mount("database", &vaultapi.MountInput{Type: "kv"}))
	_, err := vf.c.Logical().Write("database/creds/accessdb", map[string]any{"username": "v-root-accessdb-x", "password": "A1a-3pMG"})
	must(err)

	dir := t.TempDir()
	agentConfig := filepath.Join(dir, "nomad.hcl")
	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: agentConfig, DataDir: filepath.Join(dir, "data"), SimulateDrivers: []string{"docker"}, Logf: t.Logf})
	must(err)
	t.Cleanup(srv.Close)
	srv.ReloadOnSIGHUP()

	read := func(p string) string {
		b, err := os.ReadFile(p)
		must(err)
		return string(b)
	}
	// The guide's vars, and those of the database library it loads.
	decls := regexp.MustCompile(`(?m)^[a-z_]+ = var\(.*\)$`).FindAllString(
		read(filepath.Join("..", "..", "scripts", "guide.star"))+read(filepath.Join("..", "..", "scripts", "lib", "database.star")), -1)
	script := filepath.Join(dir, "guide.star")
	must(os.WriteFile(script, []byte(strings.Join(decls, "\n")+"\n"+read(filepath.Join("testdata", "guide_steps.star"))), 0o644))
	marker := filepath.Join(dir, "restarts")
	env := []string{"VAULT_ADDR=" + vf.addr, "VAULT_TOKEN=" + vf.root, "NOMAD_ADDR=" + srv.URL}
	vars := []string{"agent_config=" + agentConfig, "vault_address=" + vf.addr,
		restartVar(srv, marker)}

	_, plan, err := execGuide(t, script, runtime.Plan, env, vars)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`+  vault token "nomad-server"`,
		`+  nomad agent_config "` + agentConfig + `"  new file, vault {} block with 5 attributes`,
		`+ vault.token: (known after apply)`,
		`+  nomad job "postgres-nomad-demo"                1 group, 1 task (nomad plan: 1 create)`,
		`+  nomad job "nomad-vault-demo"                   1 group, 1 task`,
		"# template reads database/creds/accessdb: granted by access-tables",
		"Vault not enabled but used in the job",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}

	if _, out, err := execGuide(t, script, runtime.Apply, env, vars); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	allocs := srv.Allocations("nomad-vault-demo")
	if len(allocs) != 1 {
		t.Fatalf("%d allocations", len(allocs))
	}
	rendered := read(filepath.Join(srv.TaskDir(allocs[0].ID, "server"), "secrets", "config.json"))
	if !strings.Contains(rendered, `"username": "v-root-accessdb-x",`) || !strings.Contains(rendered, `"password": "A1a-3pMG",`) {
		t.Errorf("rendered config.json:\n%s", rendered)
	}
	if m := fileMode(t, agentConfig); m != 0o600 {
		t.Errorf("agent config mode %o", m)
	}

	res, out, err := execGuide(t, script, runtime.Apply, env, vars)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s := res.Summary(); s.Create+s.Update+s.Delete != 0 {
		t.Errorf("second apply changed things: %+v\n%s", s, out)
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("on_change ran %q", b)
	}
	t.Logf("guide snippet planned, applied and re-applied in %s", time.Since(start).Round(time.Millisecond))
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}
