package nomad_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
)

// startVault is the shared Vault (nomad.SharedVault: started once, cleared for each
// test), with the guide's access-tables policy and a policy that grants something else.
func startVault(t *testing.T) (addr, root string) {
	t.Helper()
	addr, root = nomad.SharedVault(t)
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(root)
	for name, rules := range map[string]string{
		"access-tables": `path "database/creds/accessdb" { capabilities = ["read"] }`,
		"other-tables":  `path "database/creds/other" { capabilities = ["read"] }` + "\n" + `path "database/creds/accessdb" { capabilities = ["list"] }`,
	} {
		if err := c.Sys().PutPolicy(name, rules); err != nil {
			t.Fatal(err)
		}
	}
	return addr, root
}

// TestPreflightWithRealVault checks the web job's template against policies read from a
// real Vault through the vault module's own checker ("vault.capabilities"). In apply,
// that checker confirms with Vault's sys/capabilities; a denied path stops the run
// before Nomad is contacted at all (nothing listens at NOMAD_ADDR).
func TestPreflightWithRealVault(t *testing.T) {
	addr, root := startVault(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nomadAddr := "http://" + l.Addr().String()
	l.Close()

	const script = `
task_policy = var("task_policy", "access-tables")
job = nomad.job("nomad-vault-demo", groups = [nomad.group("demo", tasks = [nomad.task("server",
    driver = "raw_exec", config = {"command": "/bin/sleep", "args": ["60"]},
    vault = nomad.vault(policies = [task_policy]),
    templates = [nomad.template(destination = "secrets/config.json",
        data = '{{ with secret "database/creds/accessdb" }}{{ .Data.username }}{{ end }}')],
)])])
nomad.run(job)
`
	path := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"VAULT_ADDR=" + addr, "VAULT_TOKEN=" + root, "NOMAD_ADDR=" + nomadAddr}
	tests := []struct {
		name    string
		mode    runtime.Mode
		policy  string
		want    string
		wantErr string
	}{
		{"plan granted", runtime.Plan, "access-tables", "# template reads database/creds/accessdb: granted by access-tables", ""},
		{"plan denied", runtime.Plan, "other-tables", "", "template reads database/creds/accessdb: not granted by [other-tables] (capabilities: [list])"},
		{"apply denied", runtime.Apply, "other-tables", "", "template reads database/creds/accessdb: not granted by [other-tables] (capabilities: [list])"},
		{"apply unknown policy", runtime.Apply, "no-such-policy", "", "template reads database/creds/accessdb: not granted by [no-such-policy] (capabilities: [deny])"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			red := runtime.NewRedactor()
			res, err := runtime.Exec(context.Background(), runtime.Options{
				Script: path, Mode: tc.mode, SkipPreflight: true, Out: &out, Environ: env,
				Vars:    []string{"task_policy=" + tc.policy},
				Modules: []runtime.Module{vault.Module(vault.Options{}), nomad.Module(nomad.Options{})},
			}, red)
			var plan bytes.Buffer
			if res != nil {
				_ = res.WritePlan(&plan, runtime.RenderOptions{})
			}
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("no error:\n%s", plan.String())
				}
				msg := red.Redact(err.Error())
				if !strings.Contains(msg, tc.wantErr) || strings.Contains(msg, "cannot reach Nomad") {
					t.Fatalf("error %q, want %q", msg, tc.wantErr)
				}
				if strings.Contains(msg+out.String(), root) {
					t.Fatal("the root token leaked")
				}
				return
			}
			if err != nil {
				t.Fatal(red.Redact(err.Error()))
			}
			if !strings.Contains(plan.String(), tc.want) {
				t.Errorf("plan lacks %q:\n%s", tc.want, plan.String())
			}
		})
	}
}
