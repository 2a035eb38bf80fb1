package vault

import (
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

func TestMountLifecycle(t *testing.T) {
	lifecycle(t, `vault.mount("t-kv", "kv-v2", description = "app secrets", max_lease_ttl = "24h")`,
		`vault mount "t-kv"`, runtime.Create)

	o := opts{token: rootToken(t)}
	r := mustRun(t, `vault.mount("t-kv", "kv", options = {"version": "2"}, description = "team secrets")`, runtime.Plan, o)
	rec := r.record(t, `vault mount "t-kv"`)
	if rec.Action != runtime.Update || !strings.Contains(r.plan, `~ description: "app secrets" -> "team secrets"`) {
		t.Errorf("a new description: %s\n%s", rec.Action, r.plan)
	}
	a := mustRun(t, `vault.mount("t-kv", "kv", description = "team secrets")`, runtime.Apply, o)
	if w := a.rec.writes(); len(w) != 1 || !strings.Contains(w[0], "/tune") {
		t.Errorf("tuning wrote %v, want one tune", w)
	}
	r = mustRun(t, `vault.mount("t-kv", "kv-v2", description = "team secrets", max_lease_ttl = 86400)`, runtime.Plan, o)
	if got := r.record(t, `vault mount "t-kv"`).Action; got != runtime.Unchanged {
		t.Errorf("after tuning: %s\n%s", got, r.plan)
	}
}

func TestMountWrongType(t *testing.T) {
	o := opts{token: rootToken(t)}
	mustRun(t, `vault.mount("t-typed", "kv")`, runtime.Apply, o)
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r := run(t, `step("mount it")
vault.mount("t-typed", "database")`, mode, o)
		if r.err == nil {
			t.Fatalf("%s: mounting database over kv succeeded", mode)
		}
		for _, want := range []string{"vault.mount", "step 1 (mount it)", `secrets engine t-typed/ on Vault at`, `already has type "kv", not "database"`, srv.Addr} {
			if !strings.Contains(r.errMsg, want) {
				t.Errorf("%s: error lacks %q: %s", mode, want, r.errMsg)
			}
		}
		if w := r.rec.writes(); len(w) != 0 {
			t.Errorf("%s: wrote %v", mode, w)
		}
	}
}

func TestAuthLifecycle(t *testing.T) {
	lifecycle(t, `vault.auth("t-approle", "approle", description = "ci", default_lease_ttl = "1h")`,
		`vault auth "t-approle"`, runtime.Create)

	o := opts{token: rootToken(t)}
	r := run(t, `vault.auth("t-approle", "userpass")`, runtime.Plan, o)
	if r.err == nil || !strings.Contains(r.errMsg, `already has type "approle", not "userpass"`) {
		t.Errorf("another type: %v", r.errMsg)
	}
	a := mustRun(t, `vault.auth("t-approle", "approle", default_lease_ttl = "2h")`, runtime.Apply, o)
	if rec := a.record(t, `vault auth "t-approle"`); rec.Action != runtime.Update {
		t.Errorf("a new lease TTL: %s", rec.Action)
	}
	p := mustRun(t, `vault.auth("t-approle", "approle", default_lease_ttl = 7200)`, runtime.Plan, o)
	if got := p.record(t, `vault auth "t-approle"`).Action; got != runtime.Unchanged {
		t.Errorf("after tuning: %s\n%s", got, p.plan)
	}
}
