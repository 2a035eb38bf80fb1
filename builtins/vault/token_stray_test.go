package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

const (
	strayAddr = `vault token "t-stray"`
	// strayScript names the token in use (reuse=), so a mint sweeps the address's strays.
	strayScript = `
reuse = var("reuse", "", sensitive = True)
policies = var("policies", ["t-stray"])
tok = vault.token(policies = policies, period = "1h", orphan = True, reuse = reuse, display_name = "t-stray")
capture.put("token", tok.token)
capture.put("accessor", tok.accessor)
`
	// mintOnlyScript mints for the same address without naming a token in use, as a run
	// interrupted before handing its token on leaves it behind.
	mintOnlyScript = `
tok = vault.token(policies = ["t-stray"], period = "1h", orphan = True, display_name = "t-stray")
capture.put("accessor", tok.accessor)
`
)

// TestTokenStrays: tokens nvrun minted for an address and never handed on are shown in
// the plan and revoked by the next mint for that address; the token in use, tokens of
// other addresses and tokens nvrun did not mint are left alone.
func TestTokenStrays(t *testing.T) {
	root := rootToken(t)
	rc := rootClient(t)
	ctx := context.Background()
	apply := func(t *testing.T, src string, vars ...string) (*capture, result) {
		t.Helper()
		c := newCapture()
		return c, mustRun(t, src, runtime.Apply, opts{token: root, vars: vars, modules: []runtime.Module{c.module()}})
	}
	plan := func(t *testing.T, vars ...string) result {
		t.Helper()
		return mustRun(t, strayScript, runtime.Plan, opts{token: root, vars: vars, modules: []runtime.Module{newCapture().module()}})
	}
	valid := func(accessor string) bool {
		_, err := rc.Auth().Token().LookupAccessorWithContext(ctx, accessor)
		return err == nil
	}

	// A: the token in use. Its metadata and display name say nvrun minted it for its address.
	c, _ := apply(t, strayScript)
	inUse, inUseAcc := c.str(t, "token"), c.str(t, "accessor")
	look, err := rc.Auth().Token().LookupAccessorWithContext(ctx, inUseAcc)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := look.Data["meta"].(map[string]any)
	if meta[metaMarker] != "1" || meta[metaAddress] != strayAddr || look.Data["display_name"] != "token-nvrun-t-stray" {
		t.Fatalf("minted token: meta %v, display_name %v", meta, look.Data["display_name"])
	}

	// B, C: strays. D: same display name, not nvrun's metadata. E: nvrun's, another address.
	var strays []string
	for range 2 {
		c, _ := apply(t, mintOnlyScript)
		strays = append(strays, c.str(t, "accessor"))
	}
	foreign := mustCreate(t, rc, &api.TokenCreateRequest{Policies: []string{"t-stray"}, DisplayName: "nvrun-t-stray", TTL: "1h"})
	other := mustCreate(t, rc, &api.TokenCreateRequest{Policies: []string{"t-stray"}, TTL: "1h",
		Metadata: map[string]string{metaMarker: "1", metaAddress: `vault token "t-other"`}})

	t.Run("reused: no sweep, no listing", func(t *testing.T) {
		r := plan(t, "reuse="+inUse)
		if got := counts(r); got[runtime.Delete] != 0 || got[runtime.Unchanged] != 1 {
			t.Fatalf("records %v, want one unchanged\n%s", r.records(), r.plan)
		}
		for _, q := range r.rec.all() {
			if strings.Contains(q, "auth/token/accessors") || strings.Contains(q, "lookup-accessor") {
				t.Fatalf("a token kept in use listed accessors: %v", r.rec.all())
			}
		}
	})

	mintVars := []string{"reuse=" + inUse, `policies=["t-stray", "more"]`}
	t.Run("plan shows the strays, revokes nothing", func(t *testing.T) {
		r := plan(t, mintVars...)
		want := []string{"delete " + strayAddr, "delete " + strayAddr, "create " + strayAddr}
		if strings.Join(r.records(), "|") != strings.Join(want, "|") {
			t.Fatalf("records %v, want %v\n%s", r.records(), want, r.plan)
		}
		for _, a := range strays {
			if !strings.Contains(r.plan, "accessor "+a[:accessorShown]+"…") {
				t.Errorf("the plan does not name stray %s…:\n%s", a[:accessorShown], r.plan)
			}
			if strings.Contains(r.all(), a) {
				t.Errorf("the plan shows a whole accessor")
			}
			if !valid(a) {
				t.Errorf("the plan revoked a stray")
			}
		}
		if len(r.rec.writes()) != 0 {
			t.Errorf("the plan wrote: %v", r.rec.writes())
		}
		noSecrets(t, r, inUse, root)
	})

	t.Run("apply revokes exactly the strays", func(t *testing.T) {
		c, r := apply(t, strayScript, mintVars...)
		for _, a := range strays {
			if valid(a) {
				t.Errorf("stray %s… is still valid", a[:accessorShown])
			}
		}
		for name, a := range map[string]string{"in use": inUseAcc, "not nvrun's": foreign, "another address": other, "new": c.str(t, "accessor")} {
			if !valid(a) {
				t.Errorf("the %s token was revoked", name)
			}
		}
		revokes := 0
		for _, q := range r.rec.writes() {
			if q == "POST /v1/auth/token/revoke-accessor" {
				revokes++
			}
		}
		if revokes != 2 {
			t.Errorf("%d revoke-accessor requests, want 2: %v", revokes, r.rec.writes())
		}
		noSecrets(t, r, inUse, c.str(t, "token"), root)

		// The run converges: its new token in use, nothing to mint or revoke.
		again := plan(t, "reuse="+c.str(t, "token"), `policies=["t-stray", "more"]`)
		if got := counts(again); got[runtime.Delete]+got[runtime.Create] != 0 {
			t.Fatalf("after apply: %v", again.records())
		}
	})
}

func mustCreate(t *testing.T, c *api.Client, req *api.TokenCreateRequest) (accessor string) {
	t.Helper()
	sec, err := c.Auth().Token().CreateOrphanWithContext(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.Accessor
}
