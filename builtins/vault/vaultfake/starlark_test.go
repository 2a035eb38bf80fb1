package vaultfake

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// stateKwargs evaluates a state.vault(...) call written in Starlark and returns its
// keyword arguments, as the runner hands them to FromStarlark.
func stateKwargs(t *testing.T, call string) []starlark.Tuple {
	t.Helper()
	var got []starlark.Tuple
	capture := starlark.NewBuiltin("vault", func(_ *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		got = kwargs
		return starlark.None, nil
	})
	if _, err := starlark.ExecFile(&starlark.Thread{}, "state.star", "vault"+call, starlark.StringDict{"vault": capture}); err != nil {
		t.Fatalf("%s: %v", call, err)
	}
	return got
}

func TestFromStarlarkErrors(t *testing.T) {
	for _, c := range []struct{ call, want string }{
		{`(polices = {})`, `state.vault: unknown key "polices" (did you mean "policies"?)`},
		{`(tokenroles = {})`, `state.vault: unknown key "tokenroles" (did you mean "token_roles"?)`},
		{`(zzz = 1)`, `state.vault: unknown key "zzz"`},
		{`(sealed = "yes")`, `state.vault: sealed: want a bool, not string`},
		{`(policies = ["a"])`, `state.vault: policies: want a dict, not list`},
		{`(policies = {"p": 'path "a" { capabilities = ["reed"] }'})`, `state.vault: policies["p"]: Vault would answer 400 to UPDATE sys/policies/acl/p: failed to parse policy: path "a": invalid capability "reed"`},
		{`(policies = {"p": 3})`, `state.vault: policies["p"]: want HCL text or a dict {path: [capabilities]}, not int`},
		{`(token_roles = {"r": {"token_period": "soon"}})`, `state.vault: token_roles["r"]: Vault would answer 400 to UPDATE auth/token/roles/r: error converting input soon for field "token_period"`},
		{`(token_roles = {"r": "x"})`, `state.vault: token_roles["r"]: want a dict of role fields, not string`},
		{`(mounts = {"db": "nosuch"})`, `state.vault: mounts["db"]: Vault would answer 400 to UPDATE sys/mounts/db: plugin not found in the catalog: nosuch`},
		{`(paths = {"nomount/x": {"a": 1}})`, `state.vault: paths["nomount/x"]: Vault would answer 404 to UPDATE nomount/x: no handler for route "nomount/x". route entry not found.`},
		{`(tokens = [{"policy": ["a"]}])`, `state.vault: tokens[0]: unknown key "policy" (did you mean "policies"?)`},
		{`(tokens = [{"policies": ["a"]}])`, `state.vault: tokens[0]: id: want the token (a non-empty string)`},
		{`(tokens = {"id": "x"})`, `state.vault: tokens: want a list of dicts, not dict`},
		{`(initialized = False, policies = {"p": "x"})`, `state.vault: policies: an uninitialised Vault holds nothing (initialized=False)`},
	} {
		_, err := FromStarlark(stateKwargs(t, c.call))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("state.vault%s: got %v\n  want %s", c.call, err, c.want)
		}
	}
}

// TestFromStarlarkState describes a Vault equal to the guide's result and checks that
// the guide's Vault part plans no change to what is described.
func TestFromStarlarkState(t *testing.T) {
	f, err := FromStarlark(stateKwargs(t, `(
    policies = {
        "nomad-server": {
            "auth/token/create/nomad-cluster": ["update"],
            "auth/token/roles/nomad-cluster": ["read"],
            "auth/token/lookup-self": ["read"],
            "auth/token/lookup": ["update"],
            "auth/token/revoke-accessor": ["update"],
            "sys/capabilities-self": ["update"],
            "auth/token/renew-self": ["update"],
        },
        "access-tables": 'path "database/creds/accessdb" { capabilities = ["read"] }',
    },
    token_roles = {"nomad-cluster": {"allowed_policies": ["access-tables"], "token_explicit_max_ttl": 0,
                                     "orphan": True, "token_period": "72h", "renewable": True}},
    mounts = {"database": "database"},
    paths = {
        "database/config/postgresql": {"plugin_name": "postgresql-database-plugin", "allowed_roles": "accessdb",
            "connection_url": "postgresql://{{username}}:{{password}}@database.service.consul:5432/postgres?sslmode=disable",
            "username": "postgres", "password": "postgres123"},
        "database/roles/accessdb": {"db_name": "postgresql",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT ALL ON SCHEMA public TO \"{{name}}\";",
            "revocation_statements": "REVOKE ALL ON SCHEMA public FROM \"{{name}}\"; DROP ROLE IF EXISTS \"{{name}}\";",
            "default_ttl": "1h", "max_ttl": "24h"},
    },
    tokens = [{"id": "hvs.server-token", "policies": ["nomad-server"], "period": "72h", "orphan": True},
              {"id": "hvs.operator"}],
)`))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join("..", "testdata", "guide_vault.star")
	r := execScript(t, script, runtime.Plan, f, "http://vault.test:8200", "hvs.operator", filepath.Join(t.TempDir(), "keys.json"),
		[]string{"server_token_in_use=hvs.server-token"})
	if r.err != nil {
		t.Fatalf("plan: %v\n%s", r.err, r.text)
	}
	for _, rec := range r.res.Records {
		if rec.Action != runtime.Unchanged && rec.Action != runtime.Read {
			t.Errorf("%s %s, want unchanged\n%s", rec.Action, rec.Address, r.text)
		}
	}

	// Described tokens are the only valid ones: another gets Vault's 403.
	r = execScript(t, script, runtime.Plan, f, "http://vault.test:8200", "hvs.stranger", filepath.Join(t.TempDir(), "keys.json"), nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "rejected the token") {
		t.Errorf("a token the state does not list: %v, want it rejected", r.err)
	}
}

// TestDefaults: a described Vault is initialised, unsealed and takes any token as root.
func TestDefaults(t *testing.T) {
	f, err := FromStarlark(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &target{name: "fake", base: "http://vault.test:8200", client: &http.Client{Transport: fakenet.Transport(f)}, vars: map[string]string{"root": "anything"}}
	r, err := c.do(st("GET", "auth/token/lookup-self", ""))
	if err != nil || r.status != 200 {
		t.Fatalf("lookup-self: %d %v", r.status, err)
	}
	if p, _ := selectValue(r.body, "data.policies"); show(p, true) != `["root"]` {
		t.Errorf("lookup-self policies %s, want [\"root\"]", show(p, true))
	}
	if f.Sealed() {
		t.Error("sealed by default")
	}
	sealed, err := FromStarlark(stateKwargs(t, `(sealed = True, policies = {"p": 'path "a" { capabilities = ["read"] }'})`))
	if err != nil {
		t.Fatal(err)
	}
	if !sealed.Sealed() || sealed.Policy("p") == "" {
		t.Errorf("sealed=True: sealed %v, policy %q", sealed.Sealed(), sealed.Policy("p"))
	}
}

// TestSealedState: a described sealed Vault answers 503 to authenticated requests and
// is unsealed by any well-formed key (the test cannot know its keys).
func TestSealedState(t *testing.T) {
	f, err := FromStarlark(stateKwargs(t, `(sealed = True)`))
	if err != nil {
		t.Fatal(err)
	}
	c := &target{name: "fake", base: "http://vault.test:8200", client: &http.Client{Transport: fakenet.Transport(f)}, vars: map[string]string{"root": "t"}}
	for _, s := range []struct {
		step
		status int
	}{
		{st("GET", "sys/policies/acl/default", ""), 503},
		{st("PUT", "sys/unseal", `{"key":"not a key"}`).as("-"), 400},
		{st("PUT", "sys/unseal", `{"key":"00ff"}`).as("-"), 200},
		{st("GET", "sys/policies/acl/default", ""), 200},
	} {
		r, err := c.do(s.step)
		if err != nil || r.status != s.status {
			t.Errorf("%s %s: %d %v, want %d (%s)", s.method, s.path, r.status, err, s.status, r.raw)
		}
	}
}
