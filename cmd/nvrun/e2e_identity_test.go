package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWorkloadIdentityEndToEnd runs scripts/workload-identity.star for real, from a
// sealed, empty Vault: the Nomad double signs each task's identity with its keyring,
// the real Vault verifies it through jwks_url, and the web task's template reads
// dynamic PostgreSQL credentials with the token that login gave. No Vault token is
// ever written to the agent config.
func TestWorkloadIdentityEndToEnd(t *testing.T) {
	start := time.Now()
	e := newE2E(t, "scripts/workload-identity.star")
	stack := e.stack
	initialConfig, err := os.ReadFile(stack.AgentConfig)
	if err != nil {
		t.Fatal(err)
	}
	// identity_file hands the task its JWT, so that the leak check below can look for it.
	base := append(stackArgs(stack.IdentityVarFiles()), "--var", "identity_file=true")

	// 1. A live plan of everything writes nothing anywhere.
	e.requests()
	doc := e.runJSON(append(base, "--plan")...)
	if len(doc.Steps) != 16 {
		t.Fatalf("plan has %d steps, want 16", len(doc.Steps))
	}
	if _, wrote, log := e.requests(); wrote != [3]int{} {
		t.Fatalf("the live plan wrote (vault, nomad, consul) %v: %v", wrote, log)
	}
	if e.vaultInitialized() {
		t.Fatal("the plan initialised Vault")
	}
	if now, _ := os.ReadFile(stack.AgentConfig); string(now) != string(initialConfig) {
		t.Fatal("the plan changed the agent config")
	}
	if _, err := os.Stat(stack.KeysFile); err == nil {
		t.Fatal("the plan wrote a keys file")
	}

	// 2. Apply: a sealed, empty Vault to /names.
	doc = e.runJSON(base...)
	if doc.Summary.Failed != 0 || len(doc.Steps) != 16 {
		t.Fatalf("apply: %d failed, %d steps", doc.Summary.Failed, len(doc.Steps))
	}
	root := e.rootToken()
	taskToken := e.checkIdentityTaskToken(root)
	jwt, err := os.ReadFile(filepath.Join(e.webTaskDir(), "secrets", "nomad_vault_default.jwt"))
	if err != nil || strings.Count(string(jwt), ".") != 2 {
		t.Fatalf("the task's identity JWT: %v (%d bytes)", err, len(jwt))
	}
	e.checkDynamicCredentials()
	e.checkNamesPage()
	config := e.checkAgentConfigHoldsNoToken(root, taskToken, string(jwt))
	regs := map[string]int{}
	for _, job := range []string{"postgres-nomad-demo", "nomad-vault-demo"} {
		regs[job] = stack.Nomad.Registrations(job)
	}

	// 3. A second apply changes nothing: no login method, policy, role, config or job
	// is written again.
	first, firstWrites, _ := e.requests()
	res := e.run(append(base, "--json", "--detailed-exitcode")...)
	if res.code != 0 {
		t.Fatalf("second apply: exit %d (want 0: no changes)\n%s", res.code, res.stderr)
	}
	if s := parseDoc(t, res.stdout).Summary; s.Create+s.Update+s.Delete+s.Call != 0 {
		t.Fatalf("second apply changed things: %+v", s)
	}
	// Its one write is step 13's: credentials generated to prove the engine works, and
	// their lease revoked.
	second, secondWrites, log := e.requests()
	if strings.Join(log, ", ") != "PUT /v1/sys/leases/revoke" {
		t.Errorf("second apply wrote: %v", log)
	}
	t.Logf("HTTP requests (vault, nomad, consul): first apply %v with %v writes; second apply %v with %v writes",
		first, firstWrites, second, secondWrites)
	if after, _ := os.ReadFile(stack.AgentConfig); string(after) != config {
		t.Error("second apply rewrote the agent config")
	}
	for job, n := range regs {
		if got := stack.Nomad.Registrations(job); got != n {
			t.Errorf("second apply re-registered %s (%d -> %d registrations)", job, n, got)
		}
	}

	// 4. A second live plan: nothing to do, and still no writes.
	res = e.run(append(base, "--plan", "--detailed-exitcode")...)
	if res.code != 0 || !strings.Contains(res.stdout, "0 to create, 0 to update, 0 to delete, 0 to call") {
		t.Fatalf("second plan (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	}
	if _, wrote, log := e.requests(); wrote != [3]int{} {
		t.Errorf("the second plan wrote %v: %v", wrote, log)
	}

	// The secret canary: the DB password, root token and unseal keys, the task's Vault
	// token and its identity JWT are in no output and no file nvrun wrote.
	e.checkNoSecretLeaked(taskToken, strings.TrimSpace(string(jwt)))
	t.Logf("workload identity end to end: %s", time.Since(start).Round(100*time.Millisecond))
}

// checkIdentityTaskToken: the web task's Vault token came from a login at jwt-nomad
// with the nomad-workloads role: it has the role's policies, its metadata and its
// entity alias's metadata carry the job's claims, and the templated workload policy,
// filled in with that metadata, grants the job's own KV path and no other job's.
func (e *e2e) checkIdentityTaskToken(root string) string {
	e.t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.webTaskDir(), "secrets", "vault_token"))
	if err != nil {
		e.t.Fatal(err)
	}
	tok := strings.TrimSpace(string(raw))
	var look struct {
		Data struct {
			Path     string
			Policies []string
			Meta     map[string]string
			EntityID string `json:"entity_id"`
		}
	}
	e.getJSON(e.stack.Vault.Addr+"/v1/auth/token/lookup-self", tok, &look)
	d := look.Data
	if d.Path != "auth/jwt-nomad/login" || !slices.Contains(d.Policies, "nomad-workloads") || !slices.Contains(d.Policies, "access-tables") ||
		d.Meta["role"] != "nomad-workloads" || d.Meta["nomad_job_id"] != "nomad-vault-demo" || d.EntityID == "" {
		e.t.Fatalf("task token: path %q policies %v meta %v entity %q", d.Path, d.Policies, d.Meta, d.EntityID)
	}

	var auths struct {
		Data map[string]struct{ Accessor string }
	}
	e.getJSON(e.stack.Vault.Addr+"/v1/sys/auth", root, &auths)
	accessor := auths.Data["jwt-nomad/"].Accessor
	var entity struct {
		Data struct {
			Aliases []struct {
				Name          string
				MountAccessor string `json:"mount_accessor"`
				Metadata      map[string]string
			}
		}
	}
	e.getJSON(e.stack.Vault.Addr+"/v1/identity/entity/id/"+d.EntityID, root, &entity)
	found := false
	for _, a := range entity.Data.Aliases {
		if a.MountAccessor == accessor && accessor != "" {
			found = true
			if a.Name != "nomad-vault-demo" || a.Metadata["nomad_job_id"] != "nomad-vault-demo" ||
				a.Metadata["nomad_namespace"] != "default" || a.Metadata["nomad_task"] != "server" {
				e.t.Fatalf("entity alias: name %q metadata %v", a.Name, a.Metadata)
			}
		}
	}
	if !found {
		e.t.Fatalf("no entity alias on the jwt-nomad accessor %q: %+v", accessor, entity.Data.Aliases)
	}

	for path, want := range map[string]string{
		"kv/data/default/nomad-vault-demo/db":    "read",
		"kv/data/default/postgres-nomad-demo/db": "deny",
		"database/creds/accessdb":                "read",
	} {
		var caps struct {
			Capabilities []string
		}
		e.postJSON(e.stack.Vault.Addr+"/v1/sys/capabilities-self", tok, map[string]string{"path": path}, &caps)
		if !slices.Contains(caps.Capabilities, want) {
			e.t.Errorf("task token on %s: %v, want %s", path, caps.Capabilities, want)
		}
	}
	return tok
}

// checkAgentConfigHoldsNoToken: the agent config says what Nomad 1.10 needs, and holds
// no Vault token of any kind. It returns the config.
func (e *e2e) checkAgentConfigHoldsNoToken(secrets ...string) string {
	e.t.Helper()
	b, err := os.ReadFile(e.stack.AgentConfig)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := string(b)
	if tokenAttr.MatchString(cfg) || strings.Contains(cfg, "hvs.") {
		e.t.Fatalf("a Vault token in the agent config:\n%s", cfg)
	}
	for _, s := range secrets {
		if strings.Contains(cfg, s) {
			e.t.Fatal("the agent config holds a secret")
		}
	}
	flat := strings.Join(strings.Fields(cfg), " ") // alignment is hclwrite's business
	for _, want := range []string{"default_identity {", `aud = ["vault.io"]`, `ttl = "1h"`, `jwt_auth_backend_path = "jwt-nomad"`, `create_from_role = "nomad-workloads"`} {
		if !strings.Contains(flat, want) {
			e.t.Errorf("agent config lacks %q:\n%s", want, cfg)
		}
	}
	return cfg
}

func (e *e2e) postJSON(url, token string, body, into any) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		e.t.Fatalf("POST %s: %v", url, err)
	}
}

// TestGuideToWorkloadIdentity moves a cluster set up by scripts/guide.star (the token
// flow) to workload identity, as an operator upgrading to Nomad 1.10 would: the plan
// shows the server token leaving the agent config, and after apply the web task logs
// in with its identity and the page still lists the names.
func TestGuideToWorkloadIdentity(t *testing.T) {
	e := newE2E(t, "")
	stack := e.stack
	args := stackArgs
	if doc := e.runJSON(args(stack.VarFiles())...); doc.Summary.Failed != 0 {
		t.Fatalf("guide apply: %+v", doc.Summary)
	}
	serverToken := e.serverToken()

	e.script = "scripts/workload-identity.star"
	wi := args(stack.IdentityVarFiles())
	e.requests()
	res := e.run(append(wi, "--plan")...)
	if res.code != 0 {
		t.Fatalf("plan: exit %d\n%s", res.code, res.stderr)
	}
	for _, want := range []string{
		`~  nomad agent_config "` + stack.AgentConfig + `"`, "- vault.token: (sensitive)", `- vault.task_token_ttl: "1h"`,
		`~ vault.create_from_role: "nomad-cluster" -> "nomad-workloads"`,
		`+  vault auth "jwt-nomad"`, `=  vault path "database/roles/accessdb"`, `=  nomad job "postgres-nomad-demo"`,
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("migration plan lacks %q:\n%s", want, res.stdout)
		}
	}
	if _, wrote, log := e.requests(); wrote != [3]int{} {
		t.Fatalf("the plan wrote %v: %v", wrote, log)
	}
	if doc := e.runJSON(wi...); doc.Summary.Failed != 0 {
		t.Fatalf("workload identity apply: %+v", doc.Summary)
	}
	root := e.rootToken()
	taskToken := e.checkIdentityTaskToken(root)
	e.checkAgentConfigHoldsNoToken(serverToken, root, taskToken)
	e.checkDynamicCredentials()
	e.checkNamesPage()
	if res := e.run(append(wi, "--plan", "--detailed-exitcode")...); res.code != 0 {
		t.Fatalf("not converged: plan after apply exits %d\n%s", res.code, res.stdout)
	}
	e.checkNoSecretLeaked(serverToken, taskToken)
}
