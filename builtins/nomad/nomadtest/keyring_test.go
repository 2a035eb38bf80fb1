package nomadtest

import (
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/nomad/api"
)

func getJSON(t *testing.T, url string, out any) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v\n%s", url, err, body)
		}
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestJWKSAndOIDCDiscovery(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, identityAgentConfig)
	srv, _ := newDouble(t, Config{AgentConfigPath: cfg})

	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	code, hdr, body := getJSON(t, srv.URL+"/.well-known/jwks.json", &raw)
	if code != http.StatusOK || len(raw.Keys) != 1 {
		t.Fatalf("jwks: %d %s", code, body)
	}
	k := raw.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] != srv.keyring.keyID || k["n"] == nil || k["e"] == nil {
		t.Errorf("jwk %v", k)
	}
	if k["d"] != nil || k["p"] != nil {
		t.Fatal("the JWKS holds the private key")
	}
	if cc := hdr.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=") || cc == "max-age=0" {
		t.Errorf("Cache-Control %q", cc)
	}

	// Without server.oidc_issuer Nomad does not serve discovery.
	code, _, body = getJSON(t, srv.URL+"/.well-known/openid-configuration", nil)
	if code != http.StatusNotFound || body != "OIDC Discovery endpoint disabled" {
		t.Errorf("discovery without an issuer: %d %q", code, body)
	}
	writeFile(t, cfg, strings.Replace(identityAgentConfig, "server {\n", "server {\n  oidc_issuer = \"https://nomad.example:4646\"\n", 1))
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	var disc map[string]any
	code, _, body = getJSON(t, srv.URL+"/.well-known/openid-configuration", &disc)
	if code != http.StatusOK {
		t.Fatalf("discovery: %d %s", code, body)
	}
	want := `{"id_token_signing_alg_values_supported":["RS256","EdDSA"],"issuer":"https://nomad.example:4646","jwks_uri":"https://nomad.example:4646/.well-known/jwks.json","response_types_supported":["code"],"subject_types_supported":["public"]}`
	if got, _ := json.Marshal(disc); string(got) != want {
		t.Errorf("discovery\n got %s\nwant %s", got, want)
	}
}

// The claims of a task's Vault identity, checked against the JWKS the double serves
// (the same check Vault makes), and a JWT signed with another key fails it.
func TestTaskIdentityClaims(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, strings.Replace(identityAgentConfig, "ttl = \"1h\"", "ttl = \"1h\"\n    extra_claims {\n      unique_id = \"${job.region}:${job.id}-${task.name}\"\n    }", 1))
	srv, _ := newDouble(t, Config{AgentConfigPath: cfg})

	job := vaultPolicyJob("web")
	job.TaskGroups[0].Tasks[0].Vault.Role = "web-role"
	canon := prepareJob(job, "default", "global")
	vc, _ := srv.readVaultConfig()
	addImplicitIdentities(canon, vc)
	task := canon.TaskGroups[0].Tasks[0]
	wid := taskIdentity(task, "vault_default")
	if wid == nil || len(wid.Audience) != 1 || wid.Audience[0] != "vault.io" || wid.TTL != time.Hour {
		t.Fatalf("implicit identity %+v", wid)
	}
	alloc := &api.Allocation{ID: uuid(), Namespace: "default", JobID: "web", TaskGroup: "app", Job: canon}
	before := time.Now().Add(-time.Second)
	signed, err := srv.signTaskIdentity(alloc, task, wid)
	if err != nil {
		t.Fatal(err)
	}

	var jwks jose.JSONWebKeySet
	getJSON(t, srv.URL+"/.well-known/jwks.json", &jwks)
	tok, err := jwt.ParseSigned(signed, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if h := tok.Headers[0]; h.KeyID != srv.keyring.keyID || h.Algorithm != "RS256" || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header %+v", h)
	}
	var claims map[string]any
	if err := tok.Claims(jwks.Key(srv.keyring.keyID)[0].Key, &claims); err != nil {
		t.Fatalf("verify with the JWKS: %v", err)
	}
	for k, v := range map[string]any{
		"nomad_namespace":     "default",
		"nomad_job_id":        "web",
		"nomad_allocation_id": alloc.ID,
		"nomad_task":          "server",
		"sub":                 "global:default:web:app:server:vault_default",
		"aud":                 "vault.io",
		"vault_role":          "web-role",
	} {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if ec, _ := claims["extra_claims"].(map[string]any); ec["unique_id"] != "global:web-server" {
		t.Errorf("extra_claims %v", claims["extra_claims"])
	}
	iat, nbf, exp := claims["iat"].(float64), claims["nbf"].(float64), claims["exp"].(float64)
	if iat != nbf || iat < float64(before.Unix()) || exp-iat != 3600 {
		t.Errorf("iat %v nbf %v exp %v", iat, nbf, exp)
	}
	if _, ok := claims["iss"]; ok {
		t.Error("iss without server.oidc_issuer")
	}
	if claims["jti"] == "" || claims["jti"] == nil {
		t.Error("no jti")
	}

	// A JWT signed with another key does not verify against the JWKS.
	other, err := newKeyring()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.sign(srv.taskIdentityClaims(alloc, task, wid, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ftok, err := jwt.ParseSigned(forged, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if err := ftok.Claims(jwks.Key(srv.keyring.keyID)[0].Key.(*rsa.PublicKey), &claims); err == nil {
		t.Fatal("a JWT signed with another key verified")
	}
}

// An identity with file and env set reaches the task as secrets/nomad_<name>.jwt and
// NOMAD_TOKEN_<name>, signed with the key the JWKS serves.
func TestIdentityFileAndEnv(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	writeFile(t, cfg, identityAgentConfig)
	srv, client := newDouble(t, Config{AgentConfigPath: cfg})
	job := rawJob("ids", `printf %s "$NOMAD_TOKEN_extra" > $NOMAD_ALLOC_DIR/env.jwt; cp $NOMAD_SECRETS_DIR/nomad_extra.jwt $NOMAD_ALLOC_DIR/file.jwt; cp local/other.jwt $NOMAD_ALLOC_DIR/path.jwt; exec sleep 1000`)
	job.TaskGroups[0].Tasks[0].Identities = []*api.WorkloadIdentity{
		{Name: "extra", Audience: []string{"example.com"}, File: true, Env: true, TTL: time.Hour, ChangeMode: "restart"},
		{Name: "other", Audience: []string{"example.com"}, File: true, Filepath: "local/other.jwt", TTL: time.Hour},
	}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "ids", 30*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" || a.ClientStatus == "failed" })
	if a.ClientStatus != "running" {
		t.Fatalf("alloc %s: %q", a.ClientStatus, taskEvents(a, "server"))
	}
	var jwks jose.JSONWebKeySet
	getJSON(t, srv.URL+"/.well-known/jwks.json", &jwks)
	for _, name := range []string{"env.jwt", "file.jwt", "path.jwt"} {
		path := filepath.Join(srv.DataDir(), a.ID, "alloc", name)
		waitFor(t, 5*time.Second, name, func() (bool, string) {
			b, _ := os.ReadFile(path)
			return len(b) > 0, string(b)
		})
		tok, err := jwt.ParseSigned(readFile(t, path), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var claims map[string]any
		if err := tok.Claims(jwks.Key(srv.keyring.keyID)[0].Key, &claims); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantSub := "global:default:ids:app:server:extra"
		if name == "path.jwt" {
			wantSub = "global:default:ids:app:server:other"
		}
		if claims["aud"] != "example.com" || claims["sub"] != wantSub || claims["nomad_allocation_id"] != a.ID || claims["vault_role"] != nil {
			t.Errorf("%s claims %v", name, claims)
		}
	}
	if st, err := os.Stat(filepath.Join(srv.TaskDir(a.ID, "server"), "secrets", "nomad_extra.jwt")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("identity file: %v %v", st, err)
	}
}
