package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// rootClient is a plain API client with the root token, for test setup and checks.
func rootClient(t *testing.T) *api.Client {
	t.Helper()
	servers(t)
	conf := api.DefaultConfig()
	conf.Address = srv.Addr
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(rootToken(t))
	return c
}

const tokenScript = `
reuse = var("reuse", "", sensitive = True)
policies = var("policies", ["t-token"])
tok = vault.token(policies = policies, period = "72h", orphan = True, reuse = reuse, display_name = "t-token")
capture.put("token", tok.token)
capture.put("accessor", tok.accessor)
`

func TestTokenReuse(t *testing.T) {
	root := rootToken(t)
	mint := func(t *testing.T, vars ...string) (string, result) {
		t.Helper()
		c := newCapture()
		r := mustRun(t, tokenScript, runtime.Apply, opts{token: root, vars: vars, modules: []runtime.Module{c.module()}})
		return c.str(t, "token"), r
	}
	creates := func(r result) int {
		n := 0
		for _, q := range r.rec.all() {
			if strings.HasPrefix(q, "POST /v1/auth/token/create") {
				n++
			}
		}
		return n
	}

	first, r := mint(t)
	if creates(r) != 1 {
		t.Fatalf("no reuse: %v, want one token minted", r.rec.all())
	}
	lookup, err := rootClient(t).Auth().Token().Lookup(first)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lookup.Data["orphan"].(bool); !o {
		t.Error("the token is not an orphan")
	}
	if p, _ := jsonInt(lookup.Data["period"]); p != 259200 {
		t.Errorf("period %d, want 259200", p)
	}

	t.Run("valid token is kept", func(t *testing.T) {
		plan := mustRun(t, tokenScript, runtime.Plan, opts{token: root, vars: []string{"reuse=" + first}, modules: []runtime.Module{newCapture().module()}})
		if got := plan.record(t, `vault token "t-token"`).Action; got != runtime.Unchanged {
			t.Errorf("plan: %s, want unchanged\n%s", got, plan.plan)
		}
		again, r := mint(t, "reuse="+first)
		if again != first {
			t.Error("a valid token in use was replaced")
		}
		if creates(r) != 0 || len(r.rec.writes()) != 0 {
			t.Errorf("reusing made writes: %v", r.rec.writes())
		}
		noSecrets(t, r, first, root)
	})
	t.Run("wrong policies mint a new one", func(t *testing.T) {
		plan := mustRun(t, tokenScript, runtime.Plan, opts{token: root, vars: []string{"reuse=" + first, `policies=["t-token", "other"]`},
			modules: []runtime.Module{newCapture().module()}})
		rec := plan.record(t, `vault token "t-token"`)
		if rec.Action != runtime.Create || !strings.Contains(strings.Join(rec.Notes, " "), "policies") {
			t.Errorf("plan: %s %v, want a create saying why", rec.Action, rec.Notes)
		}
		other, r := mint(t, "reuse="+first, `policies=["t-token", "other"]`)
		if other == first || creates(r) != 1 {
			t.Errorf("want a new token, got the same=%v, %d created", other == first, creates(r))
		}
	})
	t.Run("revoked token mints a new one", func(t *testing.T) {
		if err := rootClient(t).Auth().Token().RevokeOrphanWithContext(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		plan := mustRun(t, tokenScript, runtime.Plan, opts{token: root, vars: []string{"reuse=" + first}, modules: []runtime.Module{newCapture().module()}})
		// The token the subtest above minted is nobody's now: a stray, revoked before the mint.
		if got := strings.Join(plan.records(), "|"); got != `delete vault token "t-token"|create vault token "t-token"` {
			t.Fatalf("plan records: %s", got)
		}
		rec := plan.res.Records[1]
		if rec.Action != runtime.Create || !strings.Contains(strings.Join(rec.Notes, " "), "not valid") {
			t.Errorf("plan: %s %v, want a create saying the token is not valid", rec.Action, rec.Notes)
		}
		fresh, r := mint(t, "reuse="+first)
		if fresh == first || creates(r) != 1 {
			t.Errorf("want a new token, got the same=%v, %d created", fresh == first, creates(r))
		}
		noSecrets(t, plan, first, root)
		noSecrets(t, r, first, fresh, root)
	})
}
