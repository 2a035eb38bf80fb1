package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

const vaultStartTimeoutForTests = 60 * time.Second

// Vaults the tests start besides the shared one, as stop functions (each stops its
// Vault once, however often called); TestMain calls any still running.
var extraVaults struct {
	mu    sync.Mutex
	stops []func()
}

func stopExtraVaults() {
	extraVaults.mu.Lock()
	defer extraVaults.mu.Unlock()
	for _, stop := range extraVaults.stops {
		stop()
	}
}

// keepStopper registers v to be stopped at the end of TestMain and returns its stop
// function: by PID, once.
func keepStopper(v *testserver.Vault) func() {
	stop := sync.OnceFunc(v.Stop)
	extraVaults.mu.Lock()
	extraVaults.stops = append(extraVaults.stops, stop)
	extraVaults.mu.Unlock()
	return stop
}

// startFreshVault starts a real, uninitialised Vault with its own storage, stopped when
// the test ends (or earlier, by the stop function it returns).
func startFreshVault(t testing.TB) (*testserver.Vault, func()) {
	t.Helper()
	v, err := testserver.StartVault(filepath.Join(t.TempDir(), "vault"))
	if err != nil {
		t.Fatal(err)
	}
	stop := keepStopper(v)
	t.Cleanup(stop)
	return v, stop
}

// apiClient is a vault/api client for addr, with token, that takes nothing from the
// test process's environment.
func apiClient(t testing.TB, addr, token string) *api.Client {
	t.Helper()
	conf := api.DefaultConfig()
	conf.Address = addr
	conf.MaxRetries = 0
	c, err := api.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	c.ClearNamespace()
	if token != "" {
		c.SetToken(token)
	}
	return c
}

// existingVault is a Vault as an operator finds one: initialised and unsealed by someone
// else (here: out of band, with vault/api), with no keys file anywhere nvrun looks.
type existingVault struct {
	srv       *testserver.Vault
	rootToken string
	unsealKey string
}

var existing struct {
	once sync.Once
	v    *existingVault
	err  string
}

// existingVaultFor returns the one out-of-band-initialised Vault the tests of this file
// share, starting it on first use.
func existingVaultFor(t *testing.T) *existingVault {
	t.Helper()
	servers(t) // the guide's database engine uses the shared PostgreSQL
	existing.once.Do(func() {
		dir, err := os.MkdirTemp(work, "existing-")
		if err != nil {
			existing.err = err.Error()
			return
		}
		s, err := testserver.StartVault(dir)
		if err != nil {
			existing.err = err.Error()
			return
		}
		keepStopper(s)
		c := apiClient(t, s.Addr, "")
		resp, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			existing.err = "out-of-band init: " + err.Error()
			return
		}
		if _, err := c.Sys().Unseal(resp.KeysB64[0]); err != nil {
			existing.err = "out-of-band unseal: " + err.Error()
			return
		}
		if err := s.WaitActive(vaultStartTimeoutForTests); err != nil {
			existing.err = err.Error()
			return
		}
		existing.v = &existingVault{srv: s, rootToken: resp.RootToken, unsealKey: resp.KeysB64[0]}
	})
	if existing.v == nil {
		t.Fatalf("starting a Vault initialised out of band: %s", existing.err)
	}
	return existing.v
}

// The guide's Vault steps against a Vault initialised elsewhere, with only VAULT_ADDR and
// VAULT_TOKEN set and no keys file: the plan writes nothing, apply converges, and a
// second plan and apply change nothing.
func TestExistingVaultGuide(t *testing.T) {
	ev := existingVaultFor(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.json") // never created
	src := guideScript(t) + `
print("init.keys is None:", init.keys == None, "init.root_token is None:", init.root_token == None)
`
	capt := newCapture()
	o := opts{addr: ev.srv.Addr, token: ev.rootToken, keysFile: keysFile, vars: guideVars(), modules: []runtime.Module{capt.module()}}

	plan := mustRun(t, src, runtime.Plan, o)
	if w := plan.rec.writes(); len(w) != 0 {
		t.Errorf("the plan wrote to Vault: %v", w)
	}
	if reqs := plan.rec.all(); !containsReq(reqs, "GET /v1/auth/token/lookup-self") {
		t.Errorf("the plan did not validate VAULT_TOKEN: %v", reqs)
	}
	initRec := plan.record(t, "vault init")
	if initRec.Action != runtime.Unchanged || !strings.Contains(initRec.Summary, "initialised elsewhere") {
		t.Errorf("plan: vault init is %s %q, want unchanged, initialised elsewhere", initRec.Action, initRec.Summary)
	}
	if got := plan.record(t, "vault unseal").Action; got != runtime.Unchanged {
		t.Errorf("plan: vault unseal is %s, want unchanged", got)
	}
	// Logged in from VAULT_TOKEN: later steps read live state instead of planning blind.
	if pol := plan.record(t, `vault policy "nomad-server"`); strings.Contains(strings.Join(pol.Notes, " "), "read at apply") {
		t.Errorf("plan: the policy was not compared with live state: %v", pol.Notes)
	}

	for name, r := range map[string]result{"plan": plan} {
		if !strings.Contains(r.out, "init.keys is None: True init.root_token is None: True") {
			t.Errorf("%s: init's keys and root_token are not None:\n%s", name, r.out)
		}
	}

	cl := &Cleanups{}
	o.cleanups = cl
	apply := mustRun(t, src, runtime.Apply, o)
	if err := cl.Run(context.Background()); err != nil {
		t.Errorf("cleanups: %v", err)
	}
	if !strings.Contains(apply.out, "init.keys is None: True init.root_token is None: True") {
		t.Errorf("apply: init's keys and root_token are not None:\n%s", apply.out)
	}
	if got := apply.record(t, "vault init").Action; got != runtime.Unchanged {
		t.Errorf("apply: vault init is %s, want unchanged", got)
	}
	if got := apply.record(t, `vault policy "nomad-server"`).Action; got != runtime.Create {
		t.Errorf("apply: the policy is %s, want create", got)
	}
	if _, err := os.Stat(keysFile); err == nil {
		t.Error("a keys file was written for a Vault initialised elsewhere")
	}
	serverToken, _ := capt.get("server_token").(string)
	if serverToken == "" {
		t.Fatal("apply minted no server token")
	}
	creds, _ := capt.get("creds").(map[string]any)
	credsPass, _ := creds["password"].(string)

	// Second round, the token in use being the one the first apply minted.
	o2 := o
	o2.vars = guideVars("server_token_in_use=" + serverToken)
	o2.modules = []runtime.Module{newCapture().module()}
	o2.cleanups = nil
	plan2 := mustRun(t, src, runtime.Plan, o2)
	cl2 := &Cleanups{}
	o2.cleanups = cl2
	apply2 := mustRun(t, src, runtime.Apply, o2)
	apply2Reqs := apply2.rec.all() // before the lease revocation at the end
	if err := cl2.Run(context.Background()); err != nil {
		t.Errorf("cleanups: %v", err)
	}
	for name, r := range map[string]result{"plan2": plan2, "apply2": apply2} {
		for _, rec := range r.res.Records {
			if rec.Action != runtime.Unchanged && rec.Action != runtime.Read {
				t.Errorf("%s: %s is %s (%v), want unchanged", name, rec.Address, rec.Action, rec.Diff)
			}
		}
		if s := r.res.Summary(); s.Create+s.Update+s.Delete+s.Call != 0 {
			t.Errorf("%s: %+v, want 0 changes", name, s)
		}
	}
	if w := writesOf(apply2Reqs); len(w) != 0 {
		t.Errorf("second apply wrote: %v", w)
	}
	for _, r := range []result{plan, apply, plan2, apply2} {
		noSecrets(t, r, ev.rootToken, ev.unsealKey, serverToken, credsPass, pg.Password)
	}
	t.Logf("requests: plan %d, apply %d (%d writes), second plan %d, second apply %d (%d writes)",
		len(plan.rec.all()), len(apply.rec.all()), len(apply.rec.writes()), len(plan2.rec.all()), len(apply2Reqs), len(writesOf(apply2Reqs)))
	t.Logf("live plan against a Vault initialised elsewhere:\n%s", plan.plan)
}

func containsReq(reqs []string, want string) bool {
	for _, q := range reqs {
		if q == want {
			return true
		}
	}
	return false
}

// A sealed Vault and no keys: a clear error saying how many keys are missing and where
// to give them, in plan and apply, before anything is written.
func TestExistingVaultSealedNoKeys(t *testing.T) {
	ev := existingVaultFor(t)
	c := apiClient(t, ev.srv.Addr, ev.rootToken)
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Sys().Unseal(ev.unsealKey); err != nil {
			t.Errorf("unsealing again: %v", err)
		}
		if err := ev.srv.WaitActive(vaultStartTimeoutForTests); err != nil {
			t.Error(err)
		}
	})
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r := run(t, guideScript(t), mode, opts{addr: ev.srv.Addr, token: ev.rootToken, vars: guideVars(), modules: []runtime.Module{newCapture().module()}})
		if r.err == nil {
			t.Fatalf("%s against a sealed Vault with no keys succeeded:\n%s", mode, r.all())
		}
		for _, want := range []string{"vault.unseal", "is sealed", "needs 1 more unseal key(s) (threshold 1 of 1, progress 0)",
			"no keys were given", "--keys-file", "vault.unseal's argument", "main.star:"} {
			if !strings.Contains(r.errMsg, want) {
				t.Errorf("%s: error lacks %q:\n%s", mode, want, r.errMsg)
			}
		}
		if w := r.rec.writes(); len(w) != 0 {
			t.Errorf("%s wrote to a sealed Vault: %v", mode, w)
		}
		noSecrets(t, r, ev.rootToken, ev.unsealKey)
	}
}

// vault.login(None) takes the token the vault CLI would: VAULT_TOKEN, else
// ~/.vault-token, and validates it in plan and apply. A bad one is an error that says
// where it came from and never shows it.
func TestLoginEnvironmentToken(t *testing.T) {
	ev := existingVaultFor(t)
	const bad = "hvs.NotARealToken7f3a9c2e51d84b06aa"
	homeWith := func(tok string) string {
		home := t.TempDir()
		if tok != "" {
			if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return home
	}
	goodHome, badHome, emptyHome := homeWith(ev.rootToken), homeWith(bad), homeWith("")
	// The list is an authenticated read: it only works with the token login chose.
	const src = `
vault.login(None)
print("policies:", vault.list("sys/policies/acl"))
`
	for _, c := range []struct {
		name    string
		token   string // VAULT_TOKEN
		home    string
		wantErr []string
	}{
		{name: "VAULT_TOKEN", token: ev.rootToken},
		{name: "~/.vault-token", home: goodHome},
		{name: "VAULT_TOKEN wins over ~/.vault-token", token: ev.rootToken, home: badHome},
		{name: "bad VAULT_TOKEN", token: bad, home: goodHome,
			wantErr: []string{"vault.login", "rejected the token from VAULT_TOKEN", "main.star:2"}},
		{name: "bad ~/.vault-token", home: badHome,
			wantErr: []string{"vault.login", "rejected the token in " + filepath.Join(badHome, ".vault-token")}},
		{name: "no token anywhere", home: emptyHome,
			wantErr: []string{"vault.login", "no token", "VAULT_TOKEN is not set", filepath.Join(emptyHome, ".vault-token")}},
		{name: "no token and no HOME",
			wantErr: []string{"vault.login", "no token", "HOME is not set"}},
	} {
		for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
			var env []string
			if c.home != "" {
				env = append(env, "HOME="+c.home)
			}
			r := run(t, src, mode, opts{addr: ev.srv.Addr, token: c.token, env: env})
			if c.wantErr == nil {
				if r.err != nil {
					t.Errorf("%s, %s: %s", c.name, mode, r.errMsg)
					continue
				}
				if !strings.Contains(r.out, `"default"`) || !containsReq(r.rec.all(), "GET /v1/auth/token/lookup-self") {
					t.Errorf("%s, %s: not validated or not used: %v\n%s", c.name, mode, r.rec.all(), r.out)
				}
				continue
			}
			if r.err == nil {
				t.Errorf("%s, %s: no error", c.name, mode)
				continue
			}
			for _, want := range c.wantErr {
				if !strings.Contains(r.errMsg, want) {
					t.Errorf("%s, %s: error lacks %q:\n%s", c.name, mode, want, r.errMsg)
				}
			}
			// Neither the redacted nor the raw error may carry the token.
			if strings.Contains(r.err.Error(), bad) || strings.Contains(r.err.Error(), ev.rootToken) {
				t.Errorf("%s, %s: the raw error carries the token", c.name, mode)
			}
			noSecrets(t, r, bad, ev.rootToken)
			if strings.Contains(r.out, "policies:") {
				t.Errorf("%s, %s: the script went on after the failed login", c.name, mode)
			}
		}
	}
}

// init on an initialised Vault with no keys file: unchanged, keys None, in plan and apply.
func TestInitInitialisedElsewhere(t *testing.T) {
	ev := existingVaultFor(t)
	missing := filepath.Join(t.TempDir(), "nope.json")
	const src = `
i = vault.init(key_shares = 1, key_threshold = 1)
print("keys", i.keys, "root_token", i.root_token)
vault.unseal(i.keys)
`
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r := mustRun(t, src, mode, opts{addr: ev.srv.Addr, keysFile: missing})
		if !strings.Contains(r.out, "keys None root_token None") {
			t.Errorf("%s: %s", mode, r.out)
		}
		rec := r.record(t, "vault init")
		if rec.Action != runtime.Unchanged || !strings.Contains(rec.Summary, "initialised elsewhere; no keys file at "+missing) ||
			!strings.Contains(strings.Join(rec.Notes, " "), "VAULT_TOKEN") {
			t.Errorf("%s: vault init %s %q %v", mode, rec.Action, rec.Summary, rec.Notes)
		}
		if got := r.record(t, "vault unseal").Action; got != runtime.Unchanged {
			t.Errorf("%s: unseal(None) on an unsealed Vault is %s", mode, got)
		}
		if w := r.rec.writes(); len(w) != 0 {
			t.Errorf("%s wrote: %v", mode, w)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("%s created the keys file", mode)
		}
	}
	// Offline nothing is known: unseal(None) is planned as a call that needs no keys.
	r := mustRun(t, `vault.unseal(None)`, runtime.Plan, opts{offline: true, addr: "http://127.0.0.1:1"})
	if rec := r.record(t, "vault unseal"); rec.Action != runtime.Call || rec.Summary != "no keys given" {
		t.Errorf("offline: unseal(None) is %s %q", rec.Action, rec.Summary)
	}
}
