package vault

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// In apply, a capability answer Vault cannot confirm is an error, not nvrun's own
// evaluation with a warning: the check fails closed (issue 14). Here the token may read
// policies but not mint the check token.
func TestCapabilityCheckFailsClosedWhenVaultCannotConfirm(t *testing.T) {
	root := rootClient(t)
	if err := root.Sys().PutPolicy("t-caps-reader", `path "sys/policy/*" { capabilities = ["read"] }
path "sys/policies/acl/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("t-caps-target", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"t-caps-reader"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	limited := sec.Auth.ClientToken
	t.Cleanup(func() { _ = root.Auth().Token().RevokeTree(limited) })

	src := `capture.put("x", caps.check(["t-caps-target"], "secret/data/app"))`
	for _, tc := range []struct {
		mode runtime.Mode
		want string
	}{
		// A plan evaluates only (it never mints), so the limited token suffices.
		{runtime.Plan, "[read] by [t-caps-target]"},
		{runtime.Apply, `error: could not confirm the capabilities of ["t-caps-target"] with Vault`},
	} {
		c := newCapture()
		r := mustRun(t, src, tc.mode, opts{token: limited, skipPreflight: true, modules: []runtime.Module{c.module(), capsModule()}})
		got := ""
		switch v := c.get("x").(type) {
		case string:
			got = v
		case map[string]any:
			got = fmt.Sprintf("%v by %v", v["caps"], v["granted_by"])
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.mode, got, tc.want)
		}
		if tc.mode == runtime.Apply {
			if !strings.Contains(got, "permission denied") {
				t.Errorf("the error lacks Vault's reason: %q", got)
			}
			if len(r.res.Warnings) != 0 {
				t.Errorf("warnings instead of an error: %v", r.res.Warnings)
			}
		}
		noSecrets(t, r, limited)
	}
}
