package nomad

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// workloadIdentityAgent is the vault {} stanza `nomad setup vault` asks for (Nomad
// 1.7+, required from 1.10): a default identity for Vault, the JWT auth path and role,
// and no token.
const workloadIdentityAgent = `
aud = var("aud", ["vault.io"])
res = nomad.agent_config(%q, vault = {
    "enabled": True,
    "address": "http://vault.service.consul:8200",
    "default_identity": {"aud": aud, "ttl": "1h"},
    "jwt_auth_backend_path": "jwt-nomad",
    "create_from_role": "nomad-workloads",
    "token": None,
    "task_token_ttl": None,
})
print("changed:", res.changed)
cur = nomad.agent_config_read(%q)
print("identity:", cur.default_identity)
`

// TestAgentConfigWorkloadIdentity moves a token-flow agent config to workload identity:
// the token goes, default_identity is written as a nested block Nomad's HCL 1 reads,
// and a second run changes nothing.
func TestAgentConfigWorkloadIdentity(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	tokenFlow := "server {\n  enabled = true\n}\n\nvault {\n  enabled          = true\n  token            = \"" + oldToken + "\"\n  create_from_role = \"nomad-cluster\"\n  task_token_ttl   = \"1h\"\n}\n"
	if err := os.WriteFile(cfg, []byte(tokenFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	script := runtimetest.Script(t, map[string]string{"main.star": strings.ReplaceAll(workloadIdentityAgent, "%q", `"`+cfg+`"`)})

	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan,
		"vault {} block: 6 attributes to change",
		`+ vault.address: "http://vault.service.consul:8200"`,
		`+ vault.default_identity: {aud = ["vault.io"], ttl = "1h"}`,
		`+ vault.jwt_auth_backend_path: "jwt-nomad"`,
		`~ vault.create_from_role: "nomad-cluster" -> "nomad-workloads"`,
		"- vault.token: (sensitive)",
		`- vault.task_token_ttl: "1h"`)
	mustNotContain(t, "plan", r.All(), oldToken)

	if r = runScript(t, script, runConfig{mode: runtime.Apply}); r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	got := mustRead(t, cfg)
	wantBlock := `vault {
  enabled               = true
  create_from_role      = "nomad-workloads"
  address               = "http://vault.service.consul:8200"
  jwt_auth_backend_path = "jwt-nomad"
  default_identity {
    aud = ["vault.io"]
    ttl = "1h"
  }
}
`
	if !strings.HasPrefix(got, "server {\n  enabled = true\n}\n\n") || !strings.HasSuffix(got, wantBlock) {
		t.Errorf("agent config:\n%s\nwant the vault block:\n%s", got, wantBlock)
	}
	if strings.Contains(got, "token ") {
		t.Errorf("a token is left in the agent config:\n%s", got)
	}
	// Nomad reads agent configs with HCL 1, each vault block decoded on its own into
	// VaultConfig (DefaultIdentity is a *WorkloadIdentityConfig): the stanza must
	// decode there.
	type identity struct {
		Aud []string `hcl:"aud"`
		TTL string   `hcl:"ttl"`
	}
	type vaultConfig struct {
		DefaultIdentity    *identity `hcl:"default_identity"`
		JWTAuthBackendPath string    `hcl:"jwt_auth_backend_path"`
	}
	var vaults []vaultConfig
	root, err := hcl.Parse(got)
	if err != nil {
		t.Fatalf("HCL 1 cannot read the result: %v", err)
	}
	for _, item := range root.Node.(*ast.ObjectList).Filter("vault").Items {
		var v vaultConfig
		if err := hcl.DecodeObject(&v, item.Val); err != nil {
			t.Fatalf("HCL 1 cannot decode the vault block: %v", err)
		}
		vaults = append(vaults, v)
	}
	if len(vaults) != 1 || vaults[0].DefaultIdentity == nil || vaults[0].DefaultIdentity.TTL != "1h" ||
		strings.Join(vaults[0].DefaultIdentity.Aud, ",") != "vault.io" || vaults[0].JWTAuthBackendPath != "jwt-nomad" {
		t.Errorf("HCL 1 reads %d vault blocks: %+v", len(vaults), vaults)
	}

	r = runScript(t, script, runConfig{mode: runtime.Apply})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if s := r.Res.Summary(); s.Unchanged != 1 || s.Update+s.Create != 0 {
		t.Errorf("second apply: %+v\n%s", s, r.Plan)
	}
	mustContain(t, "output", r.Out, "changed: False", `identity: {"aud": ["vault.io"], "ttl": "1h"}`)

	// Another audience: the plan shows the block's change on one line, and apply
	// rewrites the block, nothing else.
	other := []string{`aud=["vault.io", "other"]`}
	r = runScript(t, script, runConfig{mode: runtime.Plan, vars: other})
	mustContain(t, "plan", r.Plan, `~ vault.default_identity: {aud = ["vault.io"], ttl = "1h"} -> {aud = ["vault.io", "other"], ttl = "1h"}`)
	r = runScript(t, script, runConfig{mode: runtime.Apply, vars: other})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if after := mustRead(t, cfg); !strings.Contains(after, `aud = ["vault.io", "other"]`) || strings.Count(after, "default_identity") != 1 {
		t.Errorf("after a new audience:\n%s", after)
	}
}

func TestAgentConfigIdentityErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	for _, tc := range []struct{ val, want string }{
		{`{"audience": ["vault.io"]}`, `unknown field "audience"`},
		{`["vault.io"]`, "want a dict of its attributes"},
		{`{}`, "an empty default_identity block"},
	} {
		script := runtimetest.Script(t, map[string]string{"main.star": `nomad.agent_config("` + cfg + `", vault = {"default_identity": ` + tc.val + `})`})
		r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true})
		if r.Err == nil || !strings.Contains(r.ErrMsg, tc.want) || !strings.Contains(r.ErrMsg, "main.star:1") {
			t.Errorf("%s: error %q, want %q with main.star:1", tc.val, r.ErrMsg, tc.want)
		}
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Error("a failed plan wrote the file")
	}
}
