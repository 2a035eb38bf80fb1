package main

import (
	"path/filepath"
	"strings"
	"testing"

	nomadapi "github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"
)

// TestSavedPlanEndToEnd: the guide applied for real, then --plan --out and --apply-plan
// with the real Vault and Consul and the Nomad double. An unchanged plan applies; a Vault
// policy, a Nomad job or a var changed in between is refused with 0 writes; the plan file
// holds no secret.
func TestSavedPlanEndToEnd(t *testing.T) {
	e := newE2E(t, "")
	stack := e.stack
	base := stackArgs(stack.VarFiles())
	if doc := e.runJSON(base...); doc.Summary.Failed != 0 {
		t.Fatalf("apply failed: %+v", doc.Summary)
	}
	root := e.rootToken()
	planFile := filepath.Join(t.TempDir(), "guide.plan")
	savePlan := func() {
		t.Helper()
		if r := e.run(append(base, "--plan", "--out", planFile)...); r.code != 0 {
			t.Fatalf("plan --out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		checkPlanFile(t, planFile, []string{canaryPassword, root, e.serverToken()},
			`vault policy "nomad-server"`, `vault token role`, `nomad job "nomad-vault-demo"`)
		e.requests()
	}
	applyPlan := func(extra ...string) cli {
		t.Helper()
		env := stack.Env()
		for k, p := range e.proxies {
			env = append(env, k+"="+p.srv.URL)
		}
		r := nvrun(t, nil, env, append(extra, "--apply-plan", planFile)...)
		e.outputs = append(e.outputs, r.stdout, r.stderr)
		return r
	}
	refused := func(r cli, want string) {
		t.Helper()
		if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, planFile+", ") {
			t.Fatalf("apply-plan: exit %d, want 1 and %q naming the plan file:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
		if _, wrote, log := e.requests(); wrote != [3]int{} {
			t.Fatalf("a refused apply-plan wrote: %v", log)
		}
	}

	// Unchanged: applied.
	savePlan()
	if r := applyPlan(base...); r.code != 0 {
		t.Fatalf("apply-plan of an unchanged plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A Vault policy changed in between.
	savePlan()
	vc, err := vaultapi.NewClient(&vaultapi.Config{Address: stack.Vault.Addr})
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(root)
	if err := vc.Sys().PutPolicy("nomad-server", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	refused(applyPlan(base...), `plan is stale: vault policy "nomad-server" changed since the plan`)

	// A Nomad job changed in between (the policy change is now in the plan).
	savePlan()
	nc, err := nomadapi.NewClient(&nomadapi.Config{Address: stack.Nomad.URL})
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := nc.Jobs().Info("nomad-vault-demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	job.SetMeta("changed-by", "a colleague")
	if _, _, err := nc.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	refused(applyPlan(base...), `plan is stale: nomad job "nomad-vault-demo" changed since the plan`)

	// A var changed in between; and the sensitive one not given again.
	savePlan()
	refused(applyPlan(append(base, "--var", "default_ttl=30m")...), "plan is stale: var default_ttl changed since the plan")
	refused(applyPlan(base[2:]...), "plan is stale: sensitive var db_password changed since the plan, or was not given again")

	e.checkNoSecretLeaked()
}
