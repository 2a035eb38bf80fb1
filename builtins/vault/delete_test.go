package vault

import (
	"context"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// Every resource an apply converges records a Delete that really undoes it, for a later
// destroy: each is called here against the real Vault, and Vault is asked that the
// resource is gone. vault.delete's own record has none (nothing brings a path back), and
// neither does vault.init (its keys are the only way in).
func TestDeleteUndoesEachResource(t *testing.T) {
	root := rootToken(t)
	rc := rootClient(t)
	ctx := context.Background()
	c := newCapture()
	r := mustRun(t, `
vault.policy("t-del", {"secret/del": ["read"]})
vault.token_role("t-del", allowed_policies = ["t-del"], orphan = True)
tok = vault.token(policies = ["t-del"], ttl = "10m", display_name = "t-del")
capture.put("accessor", tok.accessor)
vault.mount("t-del-kv", "kv")
vault.auth("t-del-userpass", "userpass")
vault.write("t-del-kv/x", value = "1")
vault.write("t-del-kv/y", value = "2")
vault.delete("t-del-kv/y")
`, runtime.Apply, opts{token: root, modules: []runtime.Module{c.module()}})
	accessor := c.str(t, "accessor")

	for _, tc := range []struct {
		address string
		gone    func() (bool, error)
	}{
		// The path first: unmounting would take it along and prove nothing.
		{`vault path "t-del-kv/x"`, func() (bool, error) {
			sec, err := rc.Logical().Read("t-del-kv/x")
			return sec == nil, err
		}},
		{`vault policy "t-del"`, func() (bool, error) {
			text, err := rc.Sys().GetPolicy("t-del")
			return text == "", err
		}},
		{`vault token role "t-del"`, func() (bool, error) {
			sec, err := rc.Logical().Read("auth/token/roles/t-del")
			return sec == nil, err
		}},
		{`vault token "t-del"`, func() (bool, error) {
			_, err := rc.Auth().Token().LookupAccessor(accessor)
			return invalidAccessor(err), nil
		}},
		{`vault mount "t-del-kv"`, func() (bool, error) {
			m, err := rc.Sys().ListMounts()
			return m["t-del-kv/"] == nil, err
		}},
		{`vault auth "t-del-userpass"`, func() (bool, error) {
			m, err := rc.Sys().ListAuth()
			return m["t-del-userpass/"] == nil, err
		}},
	} {
		t.Run(tc.address, func(t *testing.T) {
			rec := r.record(t, tc.address)
			if rec.Delete == nil {
				t.Fatalf("%s records no Delete", tc.address)
			}
			if gone, err := tc.gone(); err != nil || gone {
				t.Fatalf("before Delete: gone %v, err %v; want it there", gone, err)
			}
			if err := rec.Delete(ctx); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if gone, err := tc.gone(); err != nil || !gone {
				t.Errorf("after Delete: gone %v, err %v; want it gone", gone, err)
			}
		})
	}
	var del *runtime.Record
	for _, rec := range r.res.Records {
		if rec.Address == `vault path "t-del-kv/y"` && rec.Action == runtime.Delete {
			del = rec
		}
	}
	if del == nil || del.Delete != nil {
		t.Errorf("vault.delete: want a delete record without a Delete, got %+v", del)
	}
	if init := bootstrap(t).apply.record(t, "vault init"); init.Delete != nil {
		t.Error("vault init records a Delete: an init is never undone")
	}
}
