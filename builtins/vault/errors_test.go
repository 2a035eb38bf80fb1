package vault

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

const policyStep = `
step("Write the policy")
vault.policy("t-err", {"secret/x": ["read"]})
`

// wantError checks a run failed with an error naming the step, the builtin, the
// address and what went wrong, and showing no secret.
func wantError(t *testing.T, r result, wants ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("want an error, got success:\n%s", r.all())
	}
	for _, want := range append([]string{"step 1 (Write the policy)", "vault.policy", `vault policy "t-err"`}, wants...) {
		if !strings.Contains(r.errMsg, want) {
			t.Errorf("error lacks %q:\n%s", want, r.errMsg)
		}
	}
	noSecrets(t, r, rootToken(t), bootstrap(t).unsealKey)
	t.Logf("%s", r.errMsg)
}

func TestErrorPermissionDenied(t *testing.T) {
	c := rootClient(t)
	// Allowed to read this policy, not to write it.
	if err := c.Sys().PutPolicy("t-weak", `path "sys/policies/acl/t-err" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"t-weak"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	weak := sec.Auth.ClientToken
	_ = c.Sys().DeletePolicy("t-err")

	apply := run(t, policyStep, runtime.Apply, opts{token: weak})
	wantError(t, apply, "permission denied", srv.Addr, "PUT sys/policies/acl/t-err")
	noSecrets(t, apply, weak)

	// Cannot even read: the plan fails at the read, with the same context.
	readOnly := `step("Write the policy")
vault.policy("t-err-other", {"secret/x": ["read"]})
`
	plan := run(t, readOnly, runtime.Plan, opts{token: weak})
	if plan.err == nil || !strings.Contains(plan.errMsg, "permission denied") || !strings.Contains(plan.errMsg, "step 1 (Write the policy)") ||
		!strings.Contains(plan.errMsg, "GET sys/policies/acl/t-err-other") {
		t.Errorf("plan with a token that cannot read: %s", plan.errMsg)
	}
	noSecrets(t, plan, weak, rootToken(t))

	login := run(t, `vault.login("not-a-real-token-value")`, runtime.Plan, opts{})
	if login.err == nil || !strings.Contains(login.errMsg, "rejected the token") || strings.Contains(login.all(), "not-a-real-token-value") {
		t.Errorf("login with a bad token: %s", login.errMsg)
	}
}

func TestErrorSealed(t *testing.T) {
	root, key := rootToken(t), bootstrap(t).unsealKey
	c := rootClient(t)
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Sys().Unseal(key); err != nil {
			t.Fatalf("unsealing the shared Vault again: %v", err)
		}
		if err := srv.WaitActive(60 * time.Second); err != nil {
			t.Fatal(err)
		}
	})
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		wantError(t, run(t, policyStep, mode, opts{token: root}), "is sealed", srv.Addr, "unseal it first")
	}
	// vault.unseal with a wrong key names the problem; with the right one it unseals.
	r := run(t, `vault.unseal(["`+strings.Repeat("A", 44)+`"])`, runtime.Apply, opts{token: root})
	if r.err == nil {
		t.Errorf("unseal with a wrong key succeeded")
	}
	noSecrets(t, r, root, key)
	r = mustRun(t, `
key = var("key", "", sensitive = True)
step("Unseal Vault")
vault.unseal([key])
`, runtime.Apply, opts{token: root, vars: []string{"key=" + key}})
	if got := r.record(t, "vault unseal").Action; got != runtime.Call {
		t.Errorf("unseal: %s", got)
	}
	if _, sealed, _ := sealStatus(); sealed {
		t.Error("still sealed after vault.unseal")
	}
}

func TestErrorUnreachable(t *testing.T) {
	port, err := testserver.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://127.0.0.1:" + strconv.Itoa(port)
	o := opts{token: rootToken(t), addr: addr}

	src := policyStep + `
vault.token_role("t-err", token_period = "1h")
s = vault.status()
`
	plan := mustRun(t, src, runtime.Plan, o)
	want := "vault is unreachable (Vault at " + addr + " is unreachable: dial tcp " + strings.TrimPrefix(addr, "http://") +
		": connect: connection refused); the plan shows what vault would read as known only after apply"
	if len(plan.res.Warnings) != 1 || plan.res.Warnings[0] != want {
		t.Errorf("warnings %q, want one saying the plan is offline", plan.res.Warnings)
	}
	for _, a := range []string{`vault policy "t-err"`, `vault token role "t-err"`} {
		rec := plan.record(t, a)
		if rec.Action != runtime.Create || !strings.Contains(strings.Join(rec.Notes, " "), "offline") {
			t.Errorf("%s: %s %v, want an offline create", a, rec.Action, rec.Notes)
		}
	}
	if n := len(plan.rec.all()); n != 1 {
		t.Errorf("the plan tried %d requests, want 1 (then offline): %v", n, plan.rec.all())
	}

	wantError(t, run(t, src, runtime.Apply, o), "unreachable", addr, "connection refused")
}

// A Vault that answers with a certificate nvrun does not trust (self-signed here) is not
// unreachable: a live plan fails, naming the address and the certificate, instead of
// warning and planning offline.
func TestErrorBadCertificate(t *testing.T) {
	var hits atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	s.StartTLS()
	defer s.Close()
	o := opts{token: rootToken(t), addr: s.URL}
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r := run(t, policyStep, mode, o)
		if r.err == nil {
			t.Fatalf("%s against a bad certificate succeeded; warnings %q", mode, r.res.Warnings)
		}
		wantError(t, r, "Vault at "+s.URL+" answered, but TLS failed", "certificate", "VAULT_CACERT")
	}
	if hits.Load() != 0 {
		t.Errorf("the handler was reached %d times through an untrusted certificate", hits.Load())
	}
}
