package vault

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// workloadIdentitySetup is what `nomad setup vault` configures, with test names: a JWT
// auth method whose JWKS comes from jwks_url, a role for workloads, and a policy
// templated by the method's accessor.
const workloadIdentitySetup = `
jwks_url = var("jwks_url", "")
jwt = vault.auth("t-jwt-nomad", "jwt", description = "workload identities")
capture.put("accessor", jwt.accessor)
vault.write("auth/t-jwt-nomad/config",
    jwks_url = jwks_url,
    jwt_supported_algs = ["RS256", "EdDSA"],
    default_role = "t-workloads",
)
vault.write("auth/t-jwt-nomad/role/t-workloads",
    role_type = "jwt",
    bound_audiences = ["vault.io"],
    user_claim = "/nomad_job_id",
    user_claim_json_pointer = True,
    claim_mappings = {"nomad_namespace": "nomad_namespace", "nomad_job_id": "nomad_job_id", "nomad_task": "nomad_task"},
    token_type = "service",
    token_period = "30m",
    token_policies = ["t-workloads"],
)
vault.policy("t-workloads", {
    "kv/data/{{identity.entity.aliases.AUTH_METHOD_ACCESSOR.metadata.nomad_namespace}}/{{identity.entity.aliases.AUTH_METHOD_ACCESSOR.metadata.nomad_job_id}}/*": ["read"],
    "kv/metadata/{{identity.entity.aliases.AUTH_METHOD_ACCESSOR.metadata.nomad_namespace}}/*": ["list"],
}, substitute = {"AUTH_METHOD_ACCESSOR": jwt.accessor})
`

// TestWorkloadIdentitySetup plans, applies and re-applies the JWT auth method, its role
// and the templated policy against the real Vault, then logs in with a JWT signed by the
// key behind jwks_url: Vault verifies it through the URL, and the token's policy, filled
// with the entity alias metadata, grants the job's own path and no other.
func TestWorkloadIdentitySetup(t *testing.T) {
	key, jwks := newJWKS(t)
	o := opts{token: rootToken(t), vars: []string{"jwks_url=" + jwks.URL + "/.well-known/jwks.json"}}
	capt := newCapture()
	o.modules = append(o.modules, capt.module())

	// A fresh plan: the accessor is known only after apply, and the policy says so.
	off := mustRun(t, workloadIdentitySetup, runtime.Plan, opts{offline: true, vars: o.vars, modules: o.modules})
	for _, want := range []string{
		`+ path "kv/data/{{identity.entity.aliases.AUTH_METHOD_ACCESSOR.metadata.nomad_namespace}}/{{identity.entity.aliases.AUTH_METHOD_ACCESSOR.metadata.nomad_job_id}}/*": [read]`,
		"# AUTH_METHOD_ACCESSOR is (known after apply: vault.auth.accessor, ",
	} {
		if !strings.Contains(off.plan, want) {
			t.Errorf("offline plan lacks %q:\n%s", want, off.plan)
		}
	}
	plan := mustRun(t, workloadIdentitySetup, runtime.Plan, o)
	if w := plan.rec.writes(); len(w) != 0 {
		t.Errorf("the live plan wrote %v", w)
	}
	if c := counts(plan); c[runtime.Create] != 4 {
		t.Errorf("live plan: %v, want 4 creates\n%s", c, plan.plan)
	}
	if !strings.Contains(plan.plan, "# AUTH_METHOD_ACCESSOR is (known after apply: vault.auth.accessor, ") {
		t.Errorf("live plan lacks the placeholder note:\n%s", plan.plan)
	}

	mustRun(t, workloadIdentitySetup, runtime.Apply, o)
	accessor := capt.str(t, "accessor")
	if !strings.HasPrefix(accessor, "auth_jwt_") {
		t.Fatalf("accessor %q", accessor)
	}
	c := vaultClient(t, rootToken(t))
	text, err := c.Sys().GetPolicy("t-workloads")
	if err != nil || !strings.Contains(text, "{{identity.entity.aliases."+accessor+".metadata.nomad_job_id}}") || strings.Contains(text, "AUTH_METHOD_ACCESSOR") {
		t.Fatalf("policy in Vault (%v):\n%s", err, text)
	}

	// Again: everything is read, compared and found equal; nothing is written.
	again := mustRun(t, workloadIdentitySetup, runtime.Apply, o)
	if w := again.rec.writes(); len(w) != 0 {
		t.Errorf("second apply wrote %v\n%s", w, again.plan)
	}
	if c := counts(again); c[runtime.Unchanged] != 4 {
		t.Errorf("second apply: %v, want 4 unchanged\n%s", c, again.plan)
	}

	// A workload's JWT, as Nomad signs it, logs in through the role.
	now := time.Now()
	jwt := signJWT(t, key, map[string]any{
		"aud": []string{"vault.io"}, "sub": "global:default:web:demo:server:default", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nomad_namespace": "default", "nomad_job_id": "web", "nomad_task": "server", "nomad_allocation_id": "a1",
	})
	login, err := vaultClient(t, "").Logical().Write("auth/t-jwt-nomad/login", map[string]any{"role": "t-workloads", "jwt": jwt})
	if err != nil {
		t.Fatalf("login with a workload JWT: %v", err)
	}
	if !slices.Contains(login.Auth.TokenPolicies, "t-workloads") || login.Auth.Metadata["nomad_job_id"] != "web" {
		t.Errorf("login: policies %v metadata %v", login.Auth.TokenPolicies, login.Auth.Metadata)
	}
	task := login.Auth.ClientToken
	for path, want := range map[string]string{"kv/data/default/web/db": "read", "kv/data/default/other/db": "deny", "kv/metadata/default/x": "list"} {
		got, err := vaultClient(t, task).Sys().CapabilitiesSelf(path)
		if err != nil || !slices.Contains(got, want) {
			t.Errorf("task token on %s: %v (%v), want %s", path, got, err, want)
		}
	}
	// A JWT for another audience is refused: bound_audiences holds.
	bad := signJWT(t, key, map[string]any{"aud": []string{"other"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nomad_job_id": "web"})
	if _, err := vaultClient(t, "").Logical().Write("auth/t-jwt-nomad/login", map[string]any{"role": "t-workloads", "jwt": bad}); err == nil {
		t.Error("a JWT for another audience logged in")
	}
	noSecrets(t, again, rootToken(t), task, jwt)
}

func vaultClient(t *testing.T, token string) *vaultapi.Client {
	t.Helper()
	servers(t)
	cfg := vaultapi.DefaultConfig()
	cfg.Address = srv.Addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	if token != "" {
		c.SetToken(token)
	}
	return c
}

// newJWKS serves the public half of a new RSA key as a JWKS, on loopback.
func newJWKS(t *testing.T) (*rsa.PrivateKey, *httptest.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(s.Close)
	return key, s
}

// signJWT signs claims with RS256 under key id k1.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"})
	body, _ := json.Marshal(claims)
	signing := b64(head) + "." + b64(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

func TestPolicySubstituteErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`vault.policy("p", {"kv/{{identity.entity.aliases.X.id}}": ["read"]}, substitute = {"ACCESSOR": "auth_jwt_1"})`, `placeholder "ACCESSOR" does not occur in the rules`},
		{`vault.policy("p", {"kv/X/a": ["read"]}, substitute = {"X": "a\" { capabilities = [\"sudo\"] } path \"b"})`, `X: "a\" { capabilities`},
		{`vault.policy("p", {"kv/X/a": ["read"]}, substitute = {"X y": "a"})`, `placeholder "X y" is not a word`},
		{`vault.policy("p", {"kv/X/a": ["read"]}, substitute = {"X": 1})`, `X: want a string, not int`},
	} {
		r := run(t, tc.src, runtime.Plan, opts{offline: true})
		if r.err == nil || !strings.Contains(r.errMsg, tc.want) || !strings.Contains(r.errMsg, "main.star:1") {
			t.Errorf("%s: error %q, want %q at main.star:1", tc.src, r.errMsg, tc.want)
		}
	}
}
