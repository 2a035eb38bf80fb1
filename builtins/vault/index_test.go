package vault

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// A script declaring many policies and token roles lists each collection once, after a
// few one-by-one reads, and then reads only the names that exist: absent ones are
// planned as creates without a read. The outcome is the same as reading each.
func TestIndexSkipsReadsOfAbsentNames(t *testing.T) {
	o := opts{token: rootToken(t)}
	// Two of the six policies and one of the six roles exist already, one of each
	// with other contents.
	mustRun(t, `
vault.policy("t-ix-1", {"secret/ix/1": ["read"]})
vault.policy("t-ix-5", {"secret/ix/5": ["list"]})
vault.token_role("t-ix-4", allowed_policies = ["x"], orphan = True)
`, runtime.Apply, o)

	var src strings.Builder
	for i := range 6 {
		fmt.Fprintf(&src, "vault.policy(\"t-ix-%d\", {\"secret/ix/%d\": [\"read\"]})\n", i, i)
	}
	for i := range 6 {
		fmt.Fprintf(&src, "vault.token_role(\"t-ix-%d\", allowed_policies = [\"t-ix-%d\"], orphan = True)\n", i, i)
	}
	// One by one, the requests come in script order (below). Read ahead, in any order
	// (so which three names are read before the LIST varies), but as many, one LIST of
	// each collection, every existing name read, no more requests (fewer when an
	// existing name is among the first three), and the same plan.
	ahead := mustRun(t, src.String(), runtime.Plan, o)
	o.parallelism = 1
	plan := mustRun(t, src.String(), runtime.Plan, o)
	o.parallelism = 0
	got := ahead.rec.all()
	for _, req := range []string{"GET /v1/sys/policies/acl", "GET /v1/auth/token/roles",
		"GET /v1/sys/policies/acl/t-ix-1", "GET /v1/sys/policies/acl/t-ix-5", "GET /v1/auth/token/roles/t-ix-4"} {
		if n := slices.Index(got, req); n < 0 || slices.Index(got[n+1:], req) >= 0 {
			t.Errorf("read ahead: want %s once, got:\n  %s", req, strings.Join(got, "\n  "))
		}
	}
	if len(got) > len(plan.rec.all()) {
		t.Errorf("read ahead: %d requests, want at most %d:\n  %s", len(got), len(plan.rec.all()), strings.Join(got, "\n  "))
	}
	if ahead.plan != plan.plan || ahead.json != plan.json {
		t.Errorf("plan read ahead differs from the sequential one:\n%s\nwant:\n%s", ahead.plan, plan.plan)
	}
	want := map[string]runtime.Action{}
	for i := range 6 {
		want[fmt.Sprintf(`vault policy "t-ix-%d"`, i)] = runtime.Create
		want[fmt.Sprintf(`vault token role "t-ix-%d"`, i)] = runtime.Create
	}
	want[`vault policy "t-ix-1"`] = runtime.Unchanged
	want[`vault policy "t-ix-5"`] = runtime.Update
	want[`vault token role "t-ix-4"`] = runtime.Update
	for addr, action := range want {
		if got := plan.record(t, addr).Action; got != action {
			t.Errorf("plan: %s is %s, want %s", addr, got, action)
		}
	}
	// Three reads one by one, then one LIST; after it only the existing names are read.
	wantReqs := []string{
		"GET /v1/sys/policies/acl/t-ix-0", "GET /v1/sys/policies/acl/t-ix-1", "GET /v1/sys/policies/acl/t-ix-2",
		"GET /v1/sys/policies/acl", // LIST (a GET with ?list=true)
		"GET /v1/sys/policies/acl/t-ix-5",
		"GET /v1/auth/token/roles/t-ix-0", "GET /v1/auth/token/roles/t-ix-1", "GET /v1/auth/token/roles/t-ix-2",
		"GET /v1/auth/token/roles",
		"GET /v1/auth/token/roles/t-ix-4",
	}
	if got := plan.rec.all(); strings.Join(got, "\n") != strings.Join(wantReqs, "\n") {
		t.Errorf("plan requests:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantReqs, "\n  "))
	}

	apply := mustRun(t, src.String(), runtime.Apply, o)
	// 4 policies and 5 roles created, 1 of each updated; t-ix-1 is unchanged.
	if w := len(apply.rec.writes()); w != 11 {
		t.Errorf("apply made %d writes, want 11: %v", w, apply.rec.writes())
	}
	again := mustRun(t, src.String(), runtime.Plan, o)
	for _, rec := range again.res.Records {
		if rec.Action != runtime.Unchanged {
			t.Errorf("plan after apply: %s is %s, want unchanged", rec.Address, rec.Action)
		}
	}
}

// A name the run writes itself is in the index from then on, and a generic write under
// the collection's path drops the index, so a policy it creates is read, not re-created.
func TestIndexFollowsTheRunsOwnWrites(t *testing.T) {
	o := opts{token: rootToken(t)}
	src := `
for i in range(4):
    vault.policy("t-ixw-%d" % i, {"secret/ixw": ["read"]})
vault.write("sys/policies/acl/t-ixw-gen", policy = 'path "secret/ixw" { capabilities = ["read"] }')
vault.policy("t-ixw-gen", {"secret/ixw": ["read"]})
vault.policy("t-ixw-0", {"secret/ixw": ["read"]})
`
	r := mustRun(t, src, runtime.Apply, o)
	recs := r.records()
	if n := len(recs); n != 7 {
		t.Fatalf("records %v", recs)
	}
	if recs[5] != `unchanged vault policy "t-ixw-gen"` {
		t.Errorf("a policy written by vault.write was not read back: %s", recs[5])
	}
	if recs[6] != `unchanged vault policy "t-ixw-0"` {
		t.Errorf("a policy this run created is not known to exist: %s", recs[6])
	}
}

// A Vault this run has just initialised holds no policies but default and root and no
// token roles, and its root token is valid: the guide's first apply reads none of them.
func TestIndexAfterInitSkipsReads(t *testing.T) {
	b := bootstrap(t)
	for _, q := range b.applyReqs {
		if strings.HasPrefix(q, "GET /v1/sys/policies/acl") || strings.HasPrefix(q, "GET /v1/auth/token/roles") || q == "GET /v1/auth/token/lookup-self" {
			t.Errorf("first apply, right after init, read %s", q)
		}
	}
	for _, addr := range []string{`vault policy "nomad-server"`, `vault token role "nomad-cluster"`, `vault policy "access-tables"`} {
		if got := b.apply.record(t, addr).Action; got != runtime.Create {
			t.Errorf("first apply: %s is %s, want create", addr, got)
		}
	}
}
