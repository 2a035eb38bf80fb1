package nomadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"
)

// The guide's steps 4-6 and 13 against the real Vault: the nomad-server policy, the
// nomad-cluster token role, the server token, a task policy and a KV secret.
const (
	testRole     = "nomad-cluster"
	secretValue  = "pa55-w0rd-from-vault"
	serverPolicy = `
path "auth/token/create/nomad-cluster" { capabilities = ["update"] }
path "auth/token/roles/nomad-cluster" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`
)

type vaultSetup struct {
	addr        string
	root        *vaultapi.Client
	rootToken   string
	serverToken string
	weakToken   string // a token without the nomad-server policy
}

var setupOnce struct {
	done bool
	v    vaultSetup
}

func setupVault(t *testing.T) vaultSetup {
	t.Helper()
	v, rootToken := realVault(t)
	if setupOnce.done {
		return setupOnce.v
	}
	root, err := newVaultClient(v.Addr, rootToken, "")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().Mount("secret", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	waitFor(t, 10*time.Second, "the KV mount", func() (bool, string) {
		_, err := root.Logical().Write("secret/data/db", map[string]any{"data": map[string]any{"password": secretValue}})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	must(root.Sys().PutPolicy("nomad-server", serverPolicy))
	must(root.Sys().PutPolicy("access-tables", `path "secret/data/db" { capabilities = ["read"] }`))
	must(root.Sys().PutPolicy("no-secrets", `path "secret/data/other" { capabilities = ["read"] }`))
	_, err = root.Logical().Write("auth/token/roles/"+testRole, map[string]any{
		"allowed_policies":       "access-tables,no-secrets",
		"token_explicit_max_ttl": 0,
		"orphan":                 true,
		"token_period":           259200,
		"renewable":              true,
	})
	must(err)
	server, err := root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server"}, Period: "72h"})
	must(err)
	weak, err := root.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"})
	must(err)
	setupOnce.v = vaultSetup{addr: v.Addr, root: root, rootToken: rootToken, serverToken: server.Auth.ClientToken, weakToken: weak.Auth.ClientToken}
	setupOnce.done = true
	return setupOnce.v
}

// writeAgentConfig writes the guide's step 7 vault block.
func writeAgentConfig(t *testing.T, path, addr, token string) {
	t.Helper()
	hcl := fmt.Sprintf(`data_dir = "/opt/nomad"

server {
  enabled = true
}

vault {
  enabled          = true
  address          = %q
  task_token_ttl   = "1h"
  create_from_role = %q
  token            = %q
}
`, addr, testRole, token)
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
}

func vaultJob(id string, policies []string, tmpl string) *api.Job {
	job := rawJob(id, `cat $NOMAD_SECRETS_DIR/db.txt > $NOMAD_ALLOC_DIR/out; if [ -n "$VAULT_TOKEN" ]; then echo; echo has-token; fi >> $NOMAD_ALLOC_DIR/out; exec sleep 1000`)
	task := job.TaskGroups[0].Tasks[0]
	task.Vault = &api.Vault{Policies: policies}
	task.Templates = []*api.Template{{EmbeddedTmpl: new(tmpl), DestPath: new("secrets/db.txt")}}
	return job
}

const kvTemplate = `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`

func TestVaultTaskTokenAndTemplate(t *testing.T) {
	vs := setupVault(t)
	agentConfig := filepath.Join(t.TempDir(), "nomad.hcl")
	// The double starts before the agent config exists and, as Nomad, reads it again
	// only when reloaded: writing the file alone changes nothing.
	srv, client := newDouble(t, Config{AgentConfigPath: agentConfig})
	if _, _, err := client.Jobs().Register(vaultJob("needs-vault", []string{"access-tables"}, kvTemplate), nil); err == nil ||
		!strings.Contains(err.Error(), "Vault not enabled but used in the job") {
		t.Fatalf("register without a vault block in the agent config: %v", err)
	}
	writeAgentConfig(t, agentConfig, vs.addr, vs.serverToken)
	if _, _, err := client.Jobs().Register(vaultJob("needs-vault", []string{"access-tables"}, kvTemplate), nil); err == nil ||
		!strings.Contains(err.Error(), "Vault not enabled but used in the job") {
		t.Fatalf("register after writing the agent config, before a reload: %v", err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}

	t.Run("renders the secret before the task starts", func(t *testing.T) {
		if _, _, err := client.Jobs().Register(vaultJob("web", []string{"access-tables"}, kvTemplate), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "web", 30*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" || a.ClientStatus == "failed" })
		if a.ClientStatus != "running" {
			t.Fatalf("alloc %s: %q", a.ClientStatus, taskEvents(a, "server"))
		}
		out := filepath.Join(srv.DataDir(), a.ID, "alloc", "out")
		waitFor(t, 5*time.Second, "the task's output", func() (bool, string) {
			b, _ := os.ReadFile(out)
			return strings.Contains(string(b), "has-token"), string(b)
		})
		if got := readFile(t, out); got != secretValue+"\nhas-token\n" {
			t.Errorf("task saw %q", got)
		}
		secrets := filepath.Join(srv.TaskDir(a.ID, "server"), "secrets")
		if st, err := os.Stat(filepath.Join(secrets, "db.txt")); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("rendered template: %v %v", st.Mode(), err)
		}
		st, err := os.Stat(filepath.Join(secrets, "vault_token"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("vault_token: %v %v", st, err)
		}
		token := readFile(t, filepath.Join(secrets, "vault_token"))
		info, err := vs.root.Auth().Token().Lookup(token)
		if err != nil {
			t.Fatal(err)
		}
		policies, _ := info.TokenPolicies()
		meta, _ := info.TokenMetadata()
		if !contains(policies, "access-tables") || meta["AllocationID"] != a.ID || meta["Task"] != "server" || meta["JobID"] != "web" {
			t.Errorf("task token policies %q meta %v", policies, meta)
		}
		if role, _ := info.Data["role"].(string); role != testRole {
			t.Errorf("task token role %q", role)
		}

		// Stopping the job revokes the task token.
		if _, _, err := client.Jobs().Deregister("web", false, nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "the task token's revocation", func() (bool, string) {
			_, err := vs.root.Auth().Token().Lookup(token)
			return err != nil, ""
		})
	})

	t.Run("denied server token fails the allocation", func(t *testing.T) {
		weakConfig := filepath.Join(t.TempDir(), "nomad.hcl")
		writeAgentConfig(t, weakConfig, vs.addr, vs.weakToken)
		srv, client := newDouble(t, Config{AgentConfigPath: weakConfig})
		if _, _, err := client.Jobs().Register(vaultJob("web", []string{"access-tables"}, kvTemplate), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "web", 30*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		ev := killingMessage(a)
		// Nomad 1.6 validates the server token when it loads the config; task tokens
		// then fail with what the validation found.
		for _, want := range []string{
			"Vault: server failed to derive vault token",
			"failed to establish connection to Vault",
			`token must have one of the following capabilities ["update" "root"] on "auth/token/create/` + testRole + `"; has [deny]`,
			`failed to lookup role "` + testRole + `"`, "permission denied", "Code: 403",
		} {
			if !strings.Contains(ev, want) {
				t.Errorf("event %q lacks %q", ev, want)
			}
		}
		if strings.Contains(ev, vs.weakToken) {
			t.Error("the event shows the server token")
		}
	})

	t.Run("template without permission fails the allocation", func(t *testing.T) {
		if _, _, err := client.Jobs().Register(vaultJob("nosecret", []string{"no-secrets"}, kvTemplate), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "nosecret", 40*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		ev := killingMessage(a)
		if !strings.HasPrefix(ev, "Template failed: ") || !strings.Contains(ev, "permission denied") || !strings.Contains(ev, "secret/data/db") {
			t.Errorf("event %q", ev)
		}
		if _, err := os.Stat(filepath.Join(srv.TaskDir(a.ID, "server"), "secrets", "db.txt")); err == nil {
			t.Error("template rendered anyway")
		}
	})

	t.Run("bad template syntax fails the allocation", func(t *testing.T) {
		if _, _, err := client.Jobs().Register(vaultJob("badtmpl", []string{"access-tables"}, `{{ with secret "secret/data/db" }`), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "badtmpl", 30*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		// consul-template parses on the first run, so this is a render failure.
		if ev := killingMessage(a); !strings.HasPrefix(ev, "Template failed: (dynamic): parse: template: :1: ") {
			t.Errorf("event %q", ev)
		}
	})
}

func killingMessage(a *api.Allocation) string {
	for _, ts := range a.TaskStates {
		for _, ev := range ts.Events {
			if ev.Type == api.TaskKilling && ev.FailsTask {
				return ev.DisplayMessage
			}
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
