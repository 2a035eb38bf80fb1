package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestWorkloadIdentityDestroy undoes scripts/workload-identity.star as `nomad setup
// vault -destroy` undoes its setup: the JWT auth method (and with it every token its
// logins gave), its config and role, the workload policy, the database engine and the
// task policy, the agent config's vault block and both jobs. A second destroy changes
// nothing, and applying again converges.
func TestWorkloadIdentityDestroy(t *testing.T) {
	e := newE2E(t, "scripts/workload-identity.star")
	stack := e.stack
	base := stackArgs(stack.IdentityVarFiles())
	if doc := e.runJSON(base...); doc.Summary.Failed != 0 {
		t.Fatalf("apply: %+v", doc.Summary)
	}
	e.checkNamesPage()
	if n := dynamicRoles(t, stack); n == 0 {
		t.Fatal("no v-* role in PostgreSQL after the apply: the check below would prove nothing")
	}
	e.requests()

	// --plan --destroy writes nothing and lists every delete, last first.
	wantDeletes := []string{
		`nomad job "nomad-vault-demo"`, `vault policy "access-tables"`, `vault path "database/roles/accessdb"`,
		`vault path "database/config/postgresql"`, `vault mount "database"`, `nomad job "postgres-nomad-demo"`,
		`nomad agent_config "` + stack.AgentConfig + `"`, `vault path "auth/jwt-nomad/role/nomad-workloads"`,
		`vault policy "nomad-workloads"`, `vault path "auth/jwt-nomad/config"`, `vault auth "jwt-nomad"`,
	}
	res := e.run(append(base, "--plan", "--destroy")...)
	var shown []string
	for _, m := range regexp.MustCompile(`(?m)^  -  (.+?)(?:\s{2,}.*)?$`).FindAllStringSubmatch(res.stdout, -1) {
		shown = append(shown, m[1])
	}
	if res.code != 0 || !slices.Equal(shown, wantDeletes) {
		t.Errorf("destroy plan (exit %d):\n got  %q\n want %q\n%s%s", res.code, shown, wantDeletes, res.stdout, res.stderr)
	}
	if _, w, log := e.requests(); w != [3]int{} {
		t.Fatalf("--plan --destroy wrote: %v", log)
	}

	// --destroy with the database job kept, so that PostgreSQL can be asked afterwards.
	e.script = scriptCopy(t, "workload-identity.star", "nomad.run(db_job)", "nomad.run(db_job, keep = True)")
	doc := e.runJSON(append(base, "--destroy")...)
	if doc.Summary.Delete != len(wantDeletes)-1 || doc.Summary.Failed != 0 {
		t.Fatalf("destroy: %+v, want %d deletes", doc.Summary, len(wantDeletes)-1)
	}
	checkVaultClean(t, rootVault(t, stack), "")
	if n := dynamicRoles(t, stack); n != 0 {
		t.Errorf("PostgreSQL still holds %d v-* role(s) after destroy", n)
	}
	if now, _ := os.ReadFile(stack.AgentConfig); regexp.MustCompile(`(?m)^\s*vault\s*\{`).Match(now) || !strings.Contains(string(now), "server {") {
		t.Errorf("agent config after destroy still has a vault block (or lost the rest):\n%s", now)
	}
	if jobs := nomadJobs(t, stack); !slices.Equal(jobs, []string{"postgres-nomad-demo"}) {
		t.Errorf("Nomad jobs after destroy: %q, want only the kept postgres-nomad-demo", jobs)
	}

	// The script as it is: only the kept job is left to delete.
	e.script = "scripts/workload-identity.star"
	if doc := e.runJSON(append(base, "--destroy")...); doc.Summary.Delete != 1 || doc.Summary.Failed != 0 {
		t.Errorf("destroy after the kept run: %+v, want 1 delete (the database job)", doc.Summary)
	}
	if jobs := nomadJobs(t, stack); len(jobs) != 0 {
		t.Errorf("Nomad jobs after destroy: %q, want none", jobs)
	}

	e.requests()
	res = e.run(append(base, "--destroy", "--detailed-exitcode")...)
	if _, w, log := e.requests(); res.code != 0 || w != [3]int{} || !strings.Contains(res.stdout, "Destroy complete: 0 deleted.") {
		t.Fatalf("destroy again: exit %d, writes %v\n%s%s", res.code, log, res.stdout, res.stderr)
	}

	if doc := e.runJSON(base...); doc.Summary.Failed != 0 {
		t.Fatalf("apply after destroy: %+v", doc.Summary)
	}
	e.checkNamesPage()
	if res := e.run(append(base, "--plan", "--detailed-exitcode")...); res.code != 0 {
		t.Fatalf("apply after destroy did not converge: plan exits %d\n%s", res.code, res.stdout)
	}
	e.checkNoSecretLeaked()
}
