package vault

import (
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

func TestTokenRoleLifecycle(t *testing.T) {
	lifecycle(t, `
vault.token_role("t-role",
    allowed_policies = ["access-tables"],
    token_explicit_max_ttl = 0,
    orphan = True,
    token_period = "72h",
    renewable = True,
)
`, `vault token role "t-role"`, runtime.Create)
}

// Vault reports token_period as 259200 where the script wrote "72h"; every way of
// writing the same values is unchanged, and a real difference is a diff per field.
func TestTokenRoleNormalisation(t *testing.T) {
	o := opts{token: rootToken(t)}
	mustRun(t, `vault.token_role("t-norm", allowed_policies = ["b", "a"], token_period = "72h", orphan = True)`, runtime.Apply, o)
	for name, src := range map[string]string{
		"seconds":      `vault.token_role("t-norm", allowed_policies = ["a", "b"], token_period = 259200, orphan = True)`,
		"days":         `vault.token_role("t-norm", allowed_policies = "a,b", token_period = "3d", orphan = "true")`,
		"string secs":  `vault.token_role("t-norm", allowed_policies = "B, A", token_period = "259200")`,
		"minutes":      `vault.token_role("t-norm", token_period = "4320m")`,
		"deprecated 0": `vault.token_role("t-norm", token_explicit_max_ttl = 0, token_num_uses = 0)`,
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRun(t, src, runtime.Plan, o)
			if got := r.record(t, `vault token role "t-norm"`).Action; got != runtime.Unchanged {
				t.Errorf("%s\nis %s, want unchanged\n%s", src, got, r.plan)
			}
		})
	}
	r := mustRun(t, `vault.token_role("t-norm", allowed_policies = ["a"], token_period = "72h", token_explicit_max_ttl = "1h")`, runtime.Plan, o)
	rec := r.record(t, `vault token role "t-norm"`)
	if rec.Action != runtime.Update {
		t.Fatalf("action %s, want update\n%s", rec.Action, r.plan)
	}
	for _, want := range []string{`~ allowed_policies: ["a","b"] -> ["a"]`, `~ token_explicit_max_ttl: 0 -> 1h`} {
		if !strings.Contains(r.plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.plan)
		}
	}
	if strings.Contains(r.plan, "token_period:") {
		t.Errorf("an equal field is in the diff:\n%s", r.plan)
	}

	bad := run(t, `vault.token_role("t-norm", allowed_policy = ["a"])`, runtime.Plan, opts{offline: true})
	if bad.err == nil || !strings.Contains(bad.errMsg, `unknown field "allowed_policy"`) {
		t.Errorf("a misspelt field: %v", bad.errMsg)
	}
	bad = run(t, `vault.token_role("t-norm", token_period = "3 days")`, runtime.Plan, opts{offline: true})
	if bad.err == nil || !strings.Contains(bad.errMsg, "token_period") {
		t.Errorf("a bad duration: %v", bad.errMsg)
	}
}
