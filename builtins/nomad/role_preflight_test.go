package nomad_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
)

// TestPreflightWithRole: a job that names a Vault role (workload identity) instead of
// policies is checked against the token_policies of the role the script writes, in an
// offline plan (the policies too are the script's). A role the script does not write
// cannot be checked, and the plan says so rather than claiming a grant.
func TestPreflightWithRole(t *testing.T) {
	const script = `
role = var("role", "nomad-workloads")
role_policies = var("role_policies", ["access-tables"])
vault.policy("access-tables", {"database/creds/accessdb": ["read"]})
vault.policy("other-tables", {"database/creds/other": ["read"]})
vault.write("auth/jwt-nomad/role/nomad-workloads", role_type = "jwt", token_policies = role_policies)
job = nomad.job("web", vault = nomad.vault(role = role), groups = [nomad.group("demo", tasks = [nomad.task("server",
    driver = "raw_exec", config = {"command": "/bin/sleep", "args": ["60"]},
    templates = [nomad.template(destination = "secrets/config.json",
        data = '{{ with secret "database/creds/accessdb" }}{{ .Data.username }}{{ end }}')],
)])])
nomad.run(job)
`
	path := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want, wantErr string
		vars                []string
	}{
		{"granted by the role's policy", "# template reads database/creds/accessdb: granted by access-tables", "", nil},
		{"denied", "", "template reads database/creds/accessdb: not granted by [other-tables]", []string{`role_policies=["other-tables"]`}},
		{"a role the script does not write", `# template secrets/config.json: Vault paths not checked (role "elsewhere" is not written by this script, so its policies are not known)`, "", []string{"role=elsewhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, plan bytes.Buffer
			res, err := runtime.Exec(context.Background(), runtime.Options{
				Script: path, Mode: runtime.Plan, Offline: true, Out: &out, Vars: tc.vars,
				Modules: []runtime.Module{vault.Module(vault.Options{}), nomad.Module(nomad.Options{})},
			}, runtime.NewRedactor())
			if res != nil {
				_ = res.WritePlan(&plan, runtime.RenderOptions{})
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q\n%s", err, tc.wantErr, plan.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan.String(), tc.want) {
				t.Errorf("plan lacks %q:\n%s", tc.want, plan.String())
			}
		})
	}
}
