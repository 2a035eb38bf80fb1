package vaultfake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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
	plan2Actions        map[runtime.Action]int
	rootToken           string   // from the keys file vault.init wrote
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
	// The time a token has left depends on how long the run took (the real Vault's
	// count is a second down after a slow second): it is not compared.
	ttlLeft := regexp.MustCompile(`\(([0-9]+[hms])+ left\)`)
	normalise := func(s string) string {
		s = strings.ReplaceAll(strings.ReplaceAll(s, dir, "<dir>"), addr, "<vault>")
		return ttlLeft.ReplaceAllString(s, "(<ttl> left)")
	}
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
	g.rootToken = doc.RootToken
	return g
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
		text := strings.ReplaceAll(r.text, addr, "<vault>")
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
	for _, p := range sortedKeys(sent) {
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

// sameRounds fails if the fake's texts differ from the real Vault's, or if a second
// plan is not all unchanged.
func sameRounds(t *testing.T, script string, onFake, onVault guideRound) {
	t.Helper()
	for _, c := range []struct{ what, fake, vault string }{
		{"first plan", onFake.plan1, onVault.plan1},
		{"apply", onFake.apply, onVault.apply},
		{"second plan", onFake.plan2, onVault.plan2},
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

// lineDiff shows the lines of two texts that differ, side by side.
func lineDiff(fake, vault string) string {
	a, b := strings.Split(fake, "\n"), strings.Split(vault, "\n")
	var out []string
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			out = append(out, "  line "+strconv.Itoa(i+1)+":\n    fake:  "+x+"\n    vault: "+y)
		}
	}
	return strings.Join(out, "\n")
}
