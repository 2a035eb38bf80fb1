package vaultfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

// capture is a test module: capture.put(name, value) hands a script's value to the
// test (the Nomad server token the second round reuses), outside any output.
type capture struct {
	mu     sync.Mutex
	values map[string]string
}

func (c *capture) module() runtime.Module {
	return runtime.Module{Name: "capture", New: func(*runtime.Run) (starlark.Value, error) {
		put := func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name string
			var v starlark.Value
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "value", &v); err != nil {
				return nil, err
			}
			if runtime.IsUnknown(v) { // a plan: known only at apply
				return starlark.None, nil
			}
			g, err := runtime.ToGo(v)
			if err != nil {
				return nil, err
			}
			s, _ := g.(string)
			c.mu.Lock()
			c.values[name] = s
			c.mu.Unlock()
			return starlark.None, nil
		}
		return &starlarkstruct.Module{Name: "capture", Members: starlark.StringDict{"put": starlark.NewBuiltin("capture.put", put)}}, nil
	}}
}

// guideRound is what one Vault (fake or real) shows for the guide's Vault part: the
// first plan, the apply, and the plan after it, with the run's own paths and address
// replaced so that the two Vaults' texts can be compared.
type guideRound struct {
	plan1, apply, plan2 string
	json                [3]string // the -json views of the same runs
	plan2Actions        map[runtime.Action]int
	rootToken           string   // from the keys file vault.init wrote
	serverToken         string   // the Nomad server token the apply minted
	requests            []string // "PUT /v1/sys/policies/acl/nomad-server", as the module sent them
}

func runGuideRound(t *testing.T, f *Fake, addr string, pg *testserver.Postgres) guideRound {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "guide_vault.star"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "guide_vault.star")
	if err := os.WriteFile(script, append(src, "\ncapture.put(\"server_token\", server_token.token)\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "vault-keys.json")
	vars := []string{"db_host=" + pg.Host, "db_port=" + strconv.Itoa(pg.Port), "db_password=" + pg.Password}
	normalise := func(s string) string { return normaliseRun(s, dir, addr) }
	capt := &capture{values: map[string]string{}}
	var g guideRound
	for i, mode := range []runtime.Mode{runtime.Plan, runtime.Apply, runtime.Plan} {
		v := vars
		if i == 2 {
			v = append(v, "server_token_in_use="+capt.values["server_token"])
		}
		r := execScript(t, script, mode, f, addr, "", keys, v, capt.module())
		if r.err != nil {
			t.Fatalf("%s against %s: %v\n%s", mode, addr, r.err, r.text)
		}
		g.requests = append(g.requests, r.reqs...)
		text := normalise(r.text)
		g.json[i] = normalise(r.json)
		switch i {
		case 0:
			g.plan1 = text
		case 1:
			g.apply = text
		case 2:
			g.plan2 = text
			g.plan2Actions = map[runtime.Action]int{}
			for _, rec := range r.res.Records {
				g.plan2Actions[rec.Action]++
			}
		}
	}
	data, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RootToken string `json:"root_token"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.RootToken == "" {
		t.Fatalf("keys file: %v", err)
	}
	g.rootToken, g.serverToken = doc.RootToken, capt.values["server_token"]
	return g
}

var (
	ttlLeft  = regexp.MustCompile(`\(([0-9]+[hms])+ left\)`)
	duration = regexp.MustCompile(`"duration_ms": [0-9]+`)
	accessor = regexp.MustCompile(`\bauth_([a-z0-9]+)_[0-9a-f]{8}\b`)
)

// normaliseRun replaces what differs between two runs of the same script for reasons
// that are not Vault's answers: the run's directory and Vault's address, how long
// steps took, the time a token has left (the real Vault's count is a second down
// after a slow second), and an auth method's generated accessor (whose shape the
// table checks).
func normaliseRun(s, dir, addr string) string {
	if dir != "" {
		s = strings.ReplaceAll(s, dir, "<dir>")
	}
	s = strings.ReplaceAll(s, addr, "<vault>")
	s = ttlLeft.ReplaceAllString(s, "(<ttl> left)")
	s = accessor.ReplaceAllString(s, "auth_${1}_<accessor>")
	return duration.ReplaceAllString(s, `"duration_ms": 0`)
}

// runScriptRound plans, applies and plans again script against one Vault, logged in
// with token; it returns the three texts, normalised, and the second plan's actions.
func runScriptRound(t *testing.T, script string, f *Fake, addr, token string, vars []string) guideRound {
	t.Helper()
	var g guideRound
	for i, mode := range []runtime.Mode{runtime.Plan, runtime.Apply, runtime.Plan} {
		r := execScript(t, script, mode, f, addr, token, filepath.Join(t.TempDir(), "keys.json"), vars)
		if r.err != nil {
			t.Fatalf("%s against %s: %v\n%s", mode, addr, r.err, r.text)
		}
		g.requests = append(g.requests, r.reqs...)
		text := normaliseRun(r.text, "", addr)
		g.json[i] = normaliseRun(r.json, "", addr)
		switch i {
		case 0:
			g.plan1 = text
		case 1:
			g.apply = text
		case 2:
			g.plan2 = text
			g.plan2Actions = map[runtime.Action]int{}
			for _, rec := range r.res.Records {
				g.plan2Actions[rec.Action]++
			}
		}
	}
	return g
}

// TestGuideConformance plans and applies the guide's Vault steps against a fresh real
// Vault and against a fake described as the same (state.vault(initialized=False)):
// the plans and the apply summaries must read the same, and a second plan must find
// everything unchanged on both.
func TestGuideConformance(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	real, err := testserver.StartVault(filepath.Join(dir, "vault"))
	if err != nil {
		t.Fatalf("needs the real Vault: %v", err)
	}
	pg, err := testserver.StartPostgres(filepath.Join(dir, "pg"))
	if err != nil {
		real.Stop()
		t.Fatalf("needs PostgreSQL: %v", err)
	}
	t.Cleanup(func() { real.Stop(); pg.Stop() })
	t.Logf("vault and postgres up in %s", time.Since(start).Round(time.Millisecond))

	f, err := FromStarlark([]starlark.Tuple{{starlark.String("initialized"), starlark.False}})
	if err != nil {
		t.Fatal(err)
	}
	const fakeAddr = "http://vault.test:8200"
	onFake := runGuideRound(t, f, fakeAddr, pg)
	onVault := runGuideRound(t, nil, real.Addr, pg)
	sameRounds(t, "guide_vault.star", onFake, onVault)

	// A fake described by hand as what the guide leaves (state.vault(...) with the real
	// Vault's tokens) plans exactly as the real Vault the guide left: no change.
	described := describedGuideState(t, pg, onVault.rootToken, onVault.serverToken)
	sameRounds(t, "guide_vault.star against a described state",
		planOnly(t, described, fakeAddr, onVault.rootToken, onVault.serverToken, pg),
		planOnly(t, nil, real.Addr, onVault.rootToken, onVault.serverToken, pg))

	// Then the workload identity setup, on the Vaults the guide left, as the root token.
	script := filepath.Join("testdata", "workload_identity_vault.star")
	vars := []string{"jwks_url=" + newJWKS(t)}
	wiFake := runScriptRound(t, script, f, fakeAddr, onFake.rootToken, vars)
	wiVault := runScriptRound(t, script, nil, real.Addr, onVault.rootToken, vars)
	sameRounds(t, "workload_identity_vault.star", wiFake, wiVault)

	// Every kind of request the module sent the real Vault is one the table compares.
	covered := map[string]bool{}
	for _, c := range conformanceCases {
		for _, s := range c.steps {
			covered[requestPattern(s.method, s.path)] = true
		}
	}
	sent := map[string]bool{}
	for _, r := range append(onVault.requests, wiVault.requests...) {
		method, path, _ := strings.Cut(r, " ")
		sent[requestPattern(method, strings.TrimPrefix(path, "/v1/"))] = true
	}
	for _, p := range slices.Sorted(maps.Keys(sent)) {
		t.Logf("sent: %s", p)
		if !covered[p] {
			t.Errorf("the module sends %s, which no conformance case compares", p)
		}
	}
}

// apiWords are the segments of Vault's API paths that are not names: a request
// pattern keeps them and replaces every other segment (a policy, role, mount or
// connection name) with "*". A write is a write, whether PUT or POST.
var apiWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`sys policies policy acl auth token roles role create create-orphan lookup lookup-self
		lookup-accessor revoke-accessor revoke revoke-orphan revoke-self revoke-prefix accessors mounts tune config creds leases
		seal-status seal init unseal leader health capabilities capabilities-self data metadata`) {
		apiWords[w] = true
	}
}

func requestPattern(method, path string) string {
	if method == "POST" {
		method = "PUT"
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if !apiWords[s] {
			segs[i] = "*"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// describedGuideState is state.vault(...) as a test author writes down what the guide
// leaves behind, with the real Vault's root and Nomad server tokens.
func describedGuideState(t *testing.T, pg *testserver.Postgres, root, server string) *Fake {
	t.Helper()
	f, err := FromStarlark(stateKwargs(t, fmt.Sprintf(`(
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
        "access-tables": {"database/creds/accessdb": ["read"]},
    },
    token_roles = {"nomad-cluster": {"allowed_policies": ["access-tables"], "token_explicit_max_ttl": 0,
                                     "orphan": True, "token_period": "72h", "renewable": True}},
    mounts = {"database": "database"},
    paths = {
        "database/config/postgresql": {"plugin_name": "postgresql-database-plugin", "allowed_roles": "accessdb",
            "connection_url": "postgresql://{{username}}:{{password}}@%s:%d/postgres?sslmode=disable",
            "username": "postgres", "password": %q},
        "database/roles/accessdb": {"db_name": "postgresql",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT ALL ON SCHEMA public TO \"{{name}}\";",
            "revocation_statements": "REVOKE ALL ON SCHEMA public FROM \"{{name}}\"; DROP ROLE IF EXISTS \"{{name}}\";",
            "default_ttl": "1h", "max_ttl": "24h"},
    },
    tokens = [{"id": %q}, {"id": %q, "policies": ["nomad-server"], "period": "72h", "orphan": True}],
)`, pg.Host, pg.Port, pg.Password, root, server)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// planOnly plans the guide's Vault part twice against a Vault the guide has set up
// (no keys file: "initialised elsewhere"), as the root token, reusing the server token.
func planOnly(t *testing.T, f *Fake, addr, root, server string, pg *testserver.Postgres) guideRound {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "vault-keys.json")
	script := filepath.Join("..", "testdata", "guide_vault.star")
	vars := []string{"db_host=" + pg.Host, "db_port=" + strconv.Itoa(pg.Port), "db_password=" + pg.Password, "server_token_in_use=" + server}
	var g guideRound
	for i := range 2 {
		r := execScript(t, script, runtime.Plan, f, addr, root, keys, vars)
		if r.err != nil {
			t.Fatalf("plan against %s: %v\n%s", addr, r.err, r.text)
		}
		text, js := normaliseRun(r.text, filepath.Dir(keys), addr), normaliseRun(r.json, filepath.Dir(keys), addr)
		if i == 0 {
			g.plan1, g.json[0] = text, js
			continue
		}
		g.plan2, g.json[2] = text, js
		g.plan2Actions = map[runtime.Action]int{}
		for _, rec := range r.res.Records {
			g.plan2Actions[rec.Action]++
		}
	}
	return g
}

// sameRounds fails if the fake's texts differ from the real Vault's, or if a second
// plan is not all unchanged.
func sameRounds(t *testing.T, script string, onFake, onVault guideRound) {
	t.Helper()
	for _, c := range []struct{ what, fake, vault string }{
		{"first plan", onFake.plan1, onVault.plan1},
		{"apply", onFake.apply, onVault.apply},
		{"second plan", onFake.plan2, onVault.plan2},
		{"first plan (-json)", onFake.json[0], onVault.json[0]},
		{"apply (-json)", onFake.json[1], onVault.json[1]},
		{"second plan (-json)", onFake.json[2], onVault.json[2]},
	} {
		if c.fake != c.vault {
			t.Errorf("%s: %s differs:\n%s", script, c.what, lineDiff(c.fake, c.vault))
		}
	}
	for name, g := range map[string]guideRound{"fake": onFake, "vault": onVault} {
		a := g.plan2Actions
		if a[runtime.Create]+a[runtime.Update]+a[runtime.Delete]+a[runtime.Call] != 0 || a[runtime.Unchanged] == 0 {
			t.Errorf("%s: second plan on the %s is not all unchanged: %v\n%s", script, name, a, g.plan2)
		}
	}
}

// lineDiff is a line diff of two texts (longest common subsequence): "-" lines only
// the fake printed, "+" lines only the real Vault's run printed, a line of context
// around each change.
func lineDiff(fake, vault string) string {
	a, b := strings.Split(fake, "\n"), strings.Split(vault, "\n")
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			lines = append(lines, line{'+', b[j]})
			j++
		default:
			lines = append(lines, line{'-', a[i]})
			i++
		}
	}
	var out []string
	for k, l := range lines {
		near := l.op != ' ' || (k > 0 && lines[k-1].op != ' ') || (k+1 < len(lines) && lines[k+1].op != ' ')
		if near {
			out = append(out, "  "+string(l.op)+" "+l.text)
		}
	}
	return "  (- fake, + vault)\n" + strings.Join(out, "\n")
}
