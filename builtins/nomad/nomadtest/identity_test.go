package nomadtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"
)

// What `nomad setup vault` configures in Vault for Nomad 1.10 workload identities: a
// JWT auth method at jwt-nomad trusting the double's JWKS, a role keyed on the job ID,
// and a policy templated on the auth method's accessor.
const (
	wiAuthPath    = "jwt-nomad"
	wiRole        = "nomad-workloads"
	wiPolicy      = "nomad-workloads"
	wiSecretValue = "s3cret-for-wi-web"
)

type wiSetup struct {
	root     *vaultapi.Client
	addr     string
	accessor string
}

// setupWorkloadIdentity configures Vault's JWT auth for the double at jwksURL. It is
// done with vault/api directly, as an operator (or `nomad setup vault`) would.
func setupWorkloadIdentity(t *testing.T, jwksURL string) wiSetup {
	t.Helper()
	vs := setupVault(t) // the real Vault, with a KV v2 mount at secret/
	root := vs.root
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each test gets its own auth method, since the JWKS URL is per double.
	_ = root.Sys().DisableAuth(wiAuthPath)
	must(root.Sys().EnableAuthWithOptions(wiAuthPath, &vaultapi.EnableAuthOptions{Type: "jwt"}))
	_, err := root.Logical().Write("auth/"+wiAuthPath+"/config", map[string]any{
		"jwks_url":           jwksURL,
		"jwt_supported_algs": []string{"RS256", "EdDSA"},
		"default_role":       wiRole,
	})
	must(err)
	_, err = root.Logical().Write("auth/"+wiAuthPath+"/role/"+wiRole, map[string]any{
		"role_type":               "jwt",
		"bound_audiences":         []string{"vault.io"},
		"user_claim":              "/nomad_job_id",
		"user_claim_json_pointer": true,
		"claim_mappings": map[string]string{
			"nomad_namespace": "nomad_namespace",
			"nomad_job_id":    "nomad_job_id",
			"nomad_task":      "nomad_task",
		},
		"token_type":     "service",
		"token_period":   "30m",
		"token_policies": []string{wiPolicy},
	})
	must(err)
	mounts, err := root.Sys().ListAuth()
	must(err)
	m := mounts[wiAuthPath+"/"]
	if m == nil || m.Accessor == "" {
		t.Fatalf("no accessor for %s: %v", wiAuthPath, mounts)
	}
	alias := "identity.entity.aliases." + m.Accessor + ".metadata"
	must(root.Sys().PutPolicy(wiPolicy, fmt.Sprintf(`path "secret/data/{{%s.nomad_namespace}}/{{%s.nomad_job_id}}/*" {
  capabilities = ["read"]
}
`, alias, alias)))
	_, err = root.Logical().Write("secret/data/default/wi-web/config", map[string]any{"data": map[string]any{"password": wiSecretValue}})
	must(err)
	return wiSetup{root: root, addr: vs.addr, accessor: m.Accessor}
}

// wiAgentConfig is the agent's vault block for workload identities: no token.
func wiAgentConfig(addr string) string {
	return fmt.Sprintf(`server {
  enabled = true
}

vault {
  enabled               = true
  address               = %q
  jwt_auth_backend_path = %q
  create_from_role      = %q

  default_identity {
    aud = ["vault.io"]
    ttl = "1h"
  }
}
`, addr, wiAuthPath, wiRole)
}

// wiJob is a raw_exec job whose template reads the secret of the job at path, with a
// vault block and no policies (the role gives them).
func wiJob(id, role, path string) *api.Job {
	job := rawJob(id, `cat $NOMAD_SECRETS_DIR/db.txt > $NOMAD_ALLOC_DIR/out; exec sleep 1000`)
	task := job.TaskGroups[0].Tasks[0]
	task.Vault = &api.Vault{Role: role}
	tmpl := fmt.Sprintf(`{{ with secret %q }}{{ .Data.data.password }}{{ end }}`, path)
	task.Templates = []*api.Template{{EmbeddedTmpl: new(tmpl), DestPath: new("secrets/db.txt")}}
	return job
}

func TestWorkloadIdentityVaultLogin(t *testing.T) {
	dir := t.TempDir()
	agentConfig := filepath.Join(dir, "nomad.hcl")
	// The double starts first (Vault's auth method needs its JWKS URL); its address for
	// Vault is filled in below, then it is reloaded, as an operator would.
	srv, client := newDouble(t, Config{AgentConfigPath: agentConfig})
	wi := setupWorkloadIdentity(t, srv.URL+"/.well-known/jwks.json")
	writeFile(t, agentConfig, wiAgentConfig(wi.addr))
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}

	if _, _, err := client.Jobs().Register(wiJob("wi-web", "", "secret/data/default/wi-web/config"), nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "wi-web", 30*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" || a.ClientStatus == "failed" })
	if a.ClientStatus != "running" {
		t.Fatalf("alloc %s: %q", a.ClientStatus, taskEvents(a, "server"))
	}
	out := filepath.Join(srv.DataDir(), a.ID, "alloc", "out")
	waitFor(t, 5*time.Second, "the task's output", func() (bool, string) {
		b, _ := os.ReadFile(out)
		return len(b) > 0, string(b)
	})
	if got := readFile(t, out); got != wiSecretValue {
		t.Errorf("the template rendered %q", got)
	}

	t.Run("the stored job has the implicit vault_default identity", func(t *testing.T) {
		job, _, err := client.Jobs().Info("wi-web", nil)
		if err != nil {
			t.Fatal(err)
		}
		task := job.TaskGroups[0].Tasks[0]
		wid := taskIdentity(task, "vault_default")
		if wid == nil || strings.Join(wid.Audience, ",") != "vault.io" || wid.TTL != time.Hour {
			t.Fatalf("identities %+v", task.Identities)
		}
		found := false
		for _, c := range job.TaskGroups[0].Constraints {
			found = found || (c.LTarget == "${attr.nomad.version}" && c.RTarget == ">= 1.7.0-a" && c.Operand == "semver")
		}
		if !found {
			t.Errorf("no client version constraint: %v", job.TaskGroups[0].Constraints)
		}
	})

	token := readFile(t, filepath.Join(srv.TaskDir(a.ID, "server"), "secrets", "vault_token"))
	t.Run("the task token comes from the role, with the job in its entity alias", func(t *testing.T) {
		info, err := wi.root.Auth().Token().Lookup(token)
		if err != nil {
			t.Fatal(err)
		}
		policies, _ := info.TokenPolicies()
		if !contains(policies, wiPolicy) {
			t.Errorf("token policies %q", policies)
		}
		if typ, _ := info.Data["type"].(string); typ != "service" {
			t.Errorf("token type %q", typ)
		}
		if path, _ := info.Data["path"].(string); path != "auth/"+wiAuthPath+"/login" {
			t.Errorf("token path %q", path)
		}
		entityID, _ := info.Data["entity_id"].(string)
		entity, err := wi.root.Logical().Read("identity/entity/id/" + entityID)
		if err != nil || entity == nil {
			t.Fatalf("entity %q: %v", entityID, err)
		}
		aliases, _ := entity.Data["aliases"].([]any)
		if len(aliases) != 1 {
			t.Fatalf("aliases %v", entity.Data["aliases"])
		}
		alias := aliases[0].(map[string]any)
		meta, _ := alias["metadata"].(map[string]any)
		if alias["mount_accessor"] != wi.accessor || alias["name"] != "wi-web" ||
			meta["nomad_job_id"] != "wi-web" || meta["nomad_namespace"] != "default" || meta["nomad_task"] != "server" {
			t.Errorf("entity alias %v", alias)
		}
	})

	t.Run("no Vault token in the agent config", func(t *testing.T) {
		b := readFile(t, agentConfig)
		f, err := decodeAgentFile(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range f.Vault {
			if v.Token != "" {
				t.Error("the agent config has a vault token")
			}
		}
		if strings.Contains(b, token) {
			t.Error("the agent config holds the task token")
		}
		self, err := client.Agent().Self()
		if err != nil {
			t.Fatal(err)
		}
		if tok := self.Config["Vault"].(map[string]any)["Token"]; tok != "" {
			t.Errorf("agent self shows a token %q", tok)
		}
	})

	t.Run("Vault verifies the signature through the JWKS", func(t *testing.T) {
		job, _, err := client.Jobs().Info("wi-web", nil)
		if err != nil {
			t.Fatal(err)
		}
		task := job.TaskGroups[0].Tasks[0]
		alloc := *a
		alloc.Job = job
		wid := taskIdentity(task, "vault_default")
		login := func(jwt string) error {
			c, err := newVaultClient(wi.addr, "", "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Logical().Write("auth/"+wiAuthPath+"/login", map[string]any{"role": wiRole, "jwt": jwt})
			return err
		}
		genuine, err := srv.signTaskIdentity(&alloc, task, wid)
		if err != nil {
			t.Fatal(err)
		}
		if err := login(genuine); err != nil {
			t.Fatalf("a genuine JWT is refused: %v", err)
		}
		// The payload changed to another job, the signature kept.
		parts := strings.Split(genuine, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		claims["nomad_job_id"] = "another-job"
		forged, _ := json.Marshal(claims)
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
		if err := login(tampered); err == nil || !strings.Contains(err.Error(), "signature") {
			t.Errorf("a tampered JWT: %v", err)
		}
		// Signed by a key the double's JWKS does not have.
		other, err := newKeyring()
		if err != nil {
			t.Fatal(err)
		}
		wrongKey, err := other.sign(srv.taskIdentityClaims(&alloc, task, wid, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if err := login(wrongKey); err == nil || !strings.Contains(err.Error(), "signature") {
			t.Errorf("a JWT from another key: %v", err)
		}
	})

	t.Run("the templated policy keeps jobs apart", func(t *testing.T) {
		if _, _, err := client.Jobs().Register(wiJob("wi-other", "", "secret/data/default/wi-web/config"), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "wi-other", 40*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		if ev := killingMessage(a); !strings.HasPrefix(ev, "Template failed: ") || !strings.Contains(ev, "permission denied") {
			t.Errorf("event %q", ev)
		}
	})

	t.Run("the task's vault role is the one it logs in with", func(t *testing.T) {
		if _, _, err := client.Jobs().Register(wiJob("wi-role", "no-such-role", "secret/data/default/wi-role/config"), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "wi-role", 30*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		ev := killingMessage(a)
		for _, want := range []string{
			"Vault: failed to derive vault token: failed to derive Vault token for identity vault_default: failed to login with JWT",
			"auth/" + wiAuthPath + "/login", `role "no-such-role" could not be found`,
		} {
			if !strings.Contains(ev, want) {
				t.Errorf("event %q lacks %q", ev, want)
			}
		}
	})
}

// Without create_from_role nor a task role, the login names no role and Vault uses the
// auth method's default_role.
func TestWorkloadIdentityDefaultRole(t *testing.T) {
	dir := t.TempDir()
	agentConfig := filepath.Join(dir, "nomad.hcl")
	srv, client := newDouble(t, Config{AgentConfigPath: agentConfig})
	wi := setupWorkloadIdentity(t, srv.URL+"/.well-known/jwks.json")
	writeFile(t, agentConfig, strings.Replace(wiAgentConfig(wi.addr), "  create_from_role      = \""+wiRole+"\"\n", "", 1))
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if vc, _ := srv.readVaultConfig(); vc.Role != "" {
		t.Fatalf("create_from_role still %q", vc.Role)
	}
	if _, err := wi.root.Logical().Write("secret/data/default/wi-default/config", map[string]any{"data": map[string]any{"password": "for-wi-default"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Jobs().Register(wiJob("wi-default", "", "secret/data/default/wi-default/config"), nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "wi-default", 30*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" || a.ClientStatus == "failed" })
	if a.ClientStatus != "running" {
		t.Fatalf("alloc %s: %q", a.ClientStatus, taskEvents(a, "server"))
	}
	out := filepath.Join(srv.DataDir(), a.ID, "alloc", "out")
	waitFor(t, 5*time.Second, "the task's output", func() (bool, string) {
		b, _ := os.ReadFile(out)
		return string(b) == "for-wi-default", string(b)
	})
	info, err := wi.root.Auth().Token().Lookup(readFile(t, filepath.Join(srv.TaskDir(a.ID, "server"), "secrets", "vault_token")))
	if err != nil {
		t.Fatal(err)
	}
	if meta, _ := info.TokenMetadata(); meta["role"] != wiRole {
		t.Errorf("token metadata %v", meta)
	}
}

// In the identity flow a vault block needs no policies, and identity blocks are
// validated with Nomad's wording; in the token flow an empty policy list is still
// refused, as Nomad 1.6 does.
func TestIdentityFlowJobValidation(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, identityAgentConfig)
	srv, client := newDouble(t, Config{AgentConfigPath: cfg})

	job := wiJob("no-policies", "some-role", "secret/data/x")
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatalf("vault block without policies: %v", err)
	}
	// The implicit identity is added to every submission alike: the same job again
	// plans no change and makes no new version.
	plan, _, err := client.Jobs().Plan(wiJob("no-policies", "some-role", "secret/data/x"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Diff == nil || plan.Diff.Type != "None" {
		t.Errorf("plan of the same job: %+v", plan.Diff)
	}
	if _, _, err := client.Jobs().Register(wiJob("no-policies", "some-role", "secret/data/x"), nil); err != nil {
		t.Fatal(err)
	}
	stored, _, err := client.Jobs().Info("no-policies", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *stored.Version != 0 {
		t.Errorf("version after the same job again: %d", *stored.Version)
	}
	bad := wiJob("bad-identity", "", "secret/data/x")
	bad.TaskGroups[0].Tasks[0].Identities = []*api.WorkloadIdentity{
		{Name: "vault_default", Audience: []string{""}, ChangeMode: "signal"},
		{Name: "bad name!"},
	}
	_, _, err = client.Jobs().Register(bad, nil)
	for _, want := range []string{
		`Identity "vault_default" is invalid`, "an empty string is an invalid audience (1)",
		`change_signal must be specified when using change_mode="signal"`,
		`Identity "bad name!" is invalid: 1 error occurred:`, `invalid name "bad name!"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("register error lacks %q: %v", want, err)
		}
	}

	// The same job against a token-flow agent: Nomad 1.6 wants policies.
	writeFile(t, cfg, "vault {\n  enabled = true\n  address = \"http://127.0.0.1:1\"\n  token = \"s.not-used\"\n}\n")
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	_, _, err = client.Jobs().Register(wiJob("no-policies", "some-role", "secret/data/x"), nil)
	if err == nil || !strings.Contains(err.Error(), "Vault validation failed: ") || !strings.Contains(err.Error(), "Policy list cannot be empty") {
		t.Errorf("token flow, no policies: %v", err)
	}
}
