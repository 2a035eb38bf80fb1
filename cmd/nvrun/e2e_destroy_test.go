package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/nvrun/nvrun/internal/localstack"
	"github.com/nvrun/nvrun/internal/testserver"
)

// TestGuideDestroy applies the guide on the local stack, then undoes it: --plan
// --destroy writes nothing and lists the deletes last first; --destroy (with the
// database job kept, so that PostgreSQL can be asked afterwards) leaves Vault with no
// policy, role, mount or token of the guide's, no dynamic PostgreSQL role, the agent
// config without its vault block and only the kept job; destroying with the guide as it
// is then removes that job too; a third destroy changes nothing; applying again converges.
func TestGuideDestroy(t *testing.T) {
	e := newE2E(t, "")
	stack := e.stack
	base := stackArgs(stack.VarFiles())
	initialConfig, _ := os.ReadFile(stack.AgentConfig)

	if doc := e.runJSON(base...); doc.Summary.Failed != 0 {
		t.Fatalf("apply: %+v", doc.Summary)
	}
	e.checkNamesPage()
	serverToken := e.serverToken()
	vc := rootVault(t, stack)
	if n := dynamicRoles(t, stack); n == 0 {
		t.Fatal("no v-* role in PostgreSQL after the apply: the check below would prove nothing")
	}
	e.requests()

	// 1. --plan --destroy: no write, every delete listed, last first.
	doc := e.runJSON(append(base, "--plan", "--destroy")...)
	var deletes []string
	for _, s := range doc.Steps {
		for _, r := range s.Records {
			if r.Action == "delete" {
				deletes = append(deletes, r.Address)
			}
		}
	}
	wantDeletes := []string{
		`vault policy "nomad-server"`, `vault token role "nomad-cluster"`, `vault token "nomad-server"`,
		`nomad agent_config "` + stack.AgentConfig + `"`, `nomad job "postgres-nomad-demo"`,
		`vault mount "database"`, `vault path "database/config/postgresql"`, `vault path "database/roles/accessdb"`,
		`vault policy "access-tables"`, `nomad job "nomad-vault-demo"`,
	}
	if !slices.Equal(deletes, wantDeletes) || doc.Summary.Delete != len(wantDeletes) {
		t.Errorf("destroy plan deletes (script order), %d counted:\n got  %q\n want %q", doc.Summary.Delete, deletes, wantDeletes)
	}
	if _, w, log := e.requests(); w != [3]int{} {
		t.Fatalf("--plan --destroy wrote: %v", log)
	}
	res := e.run(append(base, "--plan", "--destroy")...)
	var shown []string
	for _, m := range regexp.MustCompile(`(?m)^  -  (.+?)(?:\s{2,}.*)?$`).FindAllStringSubmatch(res.stdout, -1) {
		shown = append(shown, m[1])
	}
	reversed := slices.Clone(wantDeletes)
	slices.Reverse(reversed)
	if res.code != 0 || !slices.Equal(shown, reversed) || !strings.Contains(res.stdout, fmt.Sprintf("Destroy: %d to delete, 0 kept.", len(wantDeletes))) {
		t.Errorf("destroy plan text (exit %d) should list the deletes last first:\n got  %q\n want %q\n%s%s", res.code, shown, reversed, res.stdout, res.stderr)
	}
	e.requests()

	// 2. --destroy, with the database job kept (keep=True in a copy of the guide).
	e.script = scriptCopy(t, "guide.star", "nomad.run(db_job)", "nomad.run(db_job, keep = True)")
	doc = e.runJSON(append(base, "--destroy")...)
	if doc.Summary.Delete != len(wantDeletes)-1 || doc.Summary.Failed != 0 {
		t.Fatalf("destroy: %+v, want %d deletes", doc.Summary, len(wantDeletes)-1)
	}
	checkVaultClean(t, vc, serverToken)
	if n := dynamicRoles(t, stack); n != 0 {
		t.Errorf("PostgreSQL still holds %d v-* role(s) after destroy", n)
	}
	if now, _ := os.ReadFile(stack.AgentConfig); regexp.MustCompile(`(?m)^\s*vault\s*\{`).Match(now) || !strings.Contains(string(now), "server {") {
		t.Errorf("agent config after destroy still has a vault block (or lost the rest):\n%s", now)
	} else if strings.TrimSpace(string(now)) != strings.TrimSpace(string(initialConfig)) {
		t.Logf("agent config after destroy differs from the initial one in layout:\n%s", now)
	}
	if jobs := nomadJobs(t, stack); !slices.Equal(jobs, []string{"postgres-nomad-demo"}) {
		t.Errorf("Nomad jobs after destroy: %q, want only the kept postgres-nomad-demo", jobs)
	}

	// 3. The guide as it is: only the job that was kept is left to delete; then nothing.
	e.script = ""
	doc = e.runJSON(append(base, "--destroy")...)
	if doc.Summary.Delete != 1 || doc.Summary.Failed != 0 {
		t.Errorf("destroy of the guide after the kept run: %+v, want 1 delete (the database job)", doc.Summary)
	}
	if jobs := nomadJobs(t, stack); len(jobs) != 0 {
		t.Errorf("Nomad jobs after the second destroy: %q, want none", jobs)
	}
	e.requests()
	res = e.run(append(base, "--destroy", "--detailed-exitcode")...)
	if _, w, log := e.requests(); res.code != 0 || w != [3]int{} || !strings.Contains(res.stdout, "Destroy complete: 0 deleted.") {
		t.Fatalf("destroy again: exit %d, writes %v\n%s%s", res.code, log, res.stdout, res.stderr)
	}

	// 4. Applying again converges.
	if doc := e.runJSON(base...); doc.Summary.Failed != 0 {
		t.Fatalf("apply after destroy: %+v", doc.Summary)
	}
	e.checkNamesPage()
	if res := e.run(append(base, "--plan", "--detailed-exitcode")...); res.code != 0 {
		t.Fatalf("apply after destroy did not converge: plan exits %d\n%s", res.code, res.stdout)
	}
	e.checkNoSecretLeaked(serverToken)
}

// scriptCopy copies scripts/NAME and its lib into a temporary directory, with one line
// replaced, and returns the copy's path.
func scriptCopy(t *testing.T, name, old, new string) string {
	t.Helper()
	root := testserver.RepoRoot()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root, "scripts", name))
	if err != nil || !strings.Contains(string(src), old) {
		t.Fatalf("%s lacks %q (%v)", name, old, err)
	}
	lib, err := os.ReadFile(filepath.Join(root, "scripts", "lib", "database.star"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, name)
	if err := os.WriteFile(script, []byte(strings.Replace(string(src), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lib", "database.star"), lib, 0o644); err != nil {
		t.Fatal(err)
	}
	return script
}

// checkVaultClean: no policy, token role, mount, auth method or token of the guide's
// (serverToken "" when the script mints none).
func checkVaultClean(t *testing.T, c *vaultapi.Client, serverToken string) {
	t.Helper()
	policies, err := c.Sys().ListPolicies()
	if slices.Sort(policies); err != nil || !slices.Equal(policies, []string{"default", "root"}) {
		t.Errorf("policies after destroy: %q (%v), want only default and root", policies, err)
	}
	if roles, err := c.Logical().List("auth/token/roles"); err != nil || roles != nil && len(roles.Data["keys"].([]any)) > 0 {
		t.Errorf("token roles after destroy: %v (%v), want none", roles, err)
	}
	mounts, err := c.Sys().ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	for path := range mounts {
		if !slices.Contains([]string{"cubbyhole/", "identity/", "secret/", "sys/"}, path) {
			t.Errorf("mount %s left after destroy", path)
		}
	}
	auths, err := c.Sys().ListAuth()
	if err != nil || len(auths) != 1 || auths["token/"] == nil {
		t.Errorf("auth methods after destroy: %v (%v), want only token/", auths, err)
	}
	if serverToken != "" { // "": the workload identity flow has none
		if _, err := c.Auth().Token().Lookup(serverToken); err == nil {
			t.Error("the Nomad server token is still valid after destroy")
		}
	}
	list, err := c.Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list.Data["keys"].([]any) {
		sec, err := c.Auth().Token().LookupAccessor(k.(string))
		if err != nil {
			continue
		}
		if ps, _ := sec.Data["policies"].([]any); !slices.Equal(ps, []any{"root"}) {
			t.Errorf("a token with policies %v is left after destroy (meta %v)", ps, sec.Data["meta"])
		}
	}
}

// dynamicRoles counts PostgreSQL's v-* roles (Vault's dynamic users), as the
// database's owner.
func dynamicRoles(t *testing.T, stack *localstack.Stack) int {
	t.Helper()
	var vars struct {
		DBPort int `json:"db_port"`
	}
	raw, _ := os.ReadFile(stack.VarFile)
	if err := json.Unmarshal(raw, &vars); err != nil || vars.DBPort == 0 {
		t.Fatalf("db_port in %s: %v", stack.VarFile, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://127.0.0.1:%d/postgres?sslmode=disable", vars.DBPort))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = "postgres", canaryPassword
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to PostgreSQL as postgres: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// nomadJobs lists the IDs of the jobs Nomad knows (purged ones are gone).
func nomadJobs(t *testing.T, stack *localstack.Stack) []string {
	t.Helper()
	var jobs []struct{ ID string }
	(&e2e{t: t}).getJSON(stack.Nomad.URL+"/v1/jobs", "", &jobs)
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	slices.Sort(ids)
	return ids
}
