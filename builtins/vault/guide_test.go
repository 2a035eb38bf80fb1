package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nvrun/nvrun/runtime"
)

// The shared Vault starts uninitialised. The first test that needs it runs the guide's
// Vault steps (testdata/guide_vault.star) against it, phase by phase, and keeps what
// every phase did; TestGuide* assert on that, the other tests use the root token.

type bootstrapRun struct {
	keysFile string

	refusedPlan, refusedApply result
	refusedInitialized        bool
	refusedFileIntact         bool

	offline, plan, apply, plan2, apply2 result
	initializedAfterPlan                bool
	keysFileAfterPlan                   bool

	applyReqs, apply2Reqs     []string // during the run
	cleanupReqs, cleanup2Reqs []string // revoking leases after it
	cleanupErr                error
	keysMode                  fs.FileMode
	keysAfterApply            []byte
	keysAfterApply2           []byte
	sealedAfterApply          bool

	rootToken, unsealKey string
	serverToken          string
	credsUser, credsPass string
	credsLoginErr        error
	credsCurrentUser     string
	roleLeftAfterCleanup bool
}

var boot struct {
	once sync.Once
	b    *bootstrapRun
	err  error
}

// bootstrap initialises the shared Vault through the guide's steps, once.
func bootstrap(t *testing.T) *bootstrapRun {
	t.Helper()
	servers(t)
	boot.once.Do(func() { boot.b, boot.err = runBootstrap(t) })
	if boot.err != nil {
		t.Fatalf("running the guide's Vault steps against the shared Vault failed: %v", boot.err)
	}
	return boot.b
}

// rootToken is the shared Vault's root token.
func rootToken(t *testing.T) string { return bootstrap(t).rootToken }

func guideScript(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "guide_vault.star"))
	if err != nil {
		t.Fatal(err)
	}
	return string(src) + "\ncapture.put(\"server_token\", server_token.token)\ncapture.put(\"creds\", creds)\n"
}

func guideVars(extra ...string) []string {
	return append([]string{"db_host=127.0.0.1", "db_port=" + strconv.Itoa(pg.Port), "db_password=" + pg.Password}, extra...)
}

func runBootstrap(t *testing.T) (*bootstrapRun, error) {
	b := &bootstrapRun{keysFile: filepath.Join(work, "guide-keys.json")}
	src := guideScript(t)
	cap1 := newCapture()
	o := opts{keysFile: b.keysFile, vars: guideVars(), modules: []runtime.Module{cap1.module()}}

	// A keys file that exists before init is refused, in plan and in apply, and Vault
	// is not initialised.
	const foreign = "someone else's keys\n"
	if err := os.WriteFile(b.keysFile, []byte(foreign), 0o600); err != nil {
		return nil, err
	}
	b.refusedPlan = run(t, src, runtime.Plan, o)
	b.refusedApply = run(t, src, runtime.Apply, o)
	initialized, _, err := sealStatus()
	if err != nil {
		return nil, err
	}
	b.refusedInitialized = initialized
	data, _ := os.ReadFile(b.keysFile)
	b.refusedFileIntact = string(data) == foreign
	if err := os.Remove(b.keysFile); err != nil {
		return nil, err
	}

	b.offline = run(t, src, runtime.Plan, opts{offline: true, keysFile: b.keysFile, vars: guideVars(), modules: o.modules})
	b.plan = run(t, src, runtime.Plan, o)
	if b.plan.err != nil {
		return nil, fmt.Errorf("live plan: %s", b.plan.errMsg)
	}
	if b.initializedAfterPlan, _, err = sealStatus(); err != nil {
		return nil, err
	}
	_, err = os.Stat(b.keysFile)
	b.keysFileAfterPlan = err == nil

	cl := &Cleanups{}
	o.cleanups = cl
	b.apply = run(t, src, runtime.Apply, o)
	b.applyReqs = b.apply.rec.all()
	if b.apply.err != nil {
		_ = cl.Run(context.Background())
		return nil, fmt.Errorf("apply: %s\n%s", b.apply.errMsg, b.apply.all())
	}
	fi, err := os.Stat(b.keysFile)
	if err != nil {
		return nil, fmt.Errorf("keys file after apply: %w", err)
	}
	b.keysMode = fi.Mode().Perm()
	b.keysAfterApply, _ = os.ReadFile(b.keysFile)
	var doc keysDoc
	if err := json.Unmarshal(b.keysAfterApply, &doc); err != nil {
		return nil, fmt.Errorf("keys file is not JSON")
	}
	b.rootToken = doc.RootToken
	if len(doc.UnsealKeysB64) > 0 {
		b.unsealKey = doc.UnsealKeysB64[0]
	}
	_, sealed, err := sealStatus()
	if err != nil {
		return nil, err
	}
	b.sealedAfterApply = sealed
	b.serverToken, _ = cap1.get("server_token").(string)
	if creds, ok := cap1.get("creds").(map[string]any); ok {
		b.credsUser, _ = creds["username"].(string)
		b.credsPass, _ = creds["password"].(string)
	}
	b.credsCurrentUser, b.credsLoginErr = pgLogin(b.credsUser, b.credsPass)
	b.cleanupErr = cl.Run(context.Background())
	b.cleanupReqs = b.apply.rec.all()[len(b.applyReqs):]
	if b.roleLeftAfterCleanup, err = pgRoleExists(b.credsUser); err != nil {
		return nil, err
	}

	// Second round: the token in use is the one the first apply minted.
	o2 := o
	o2.vars = guideVars("server_token_in_use=" + b.serverToken)
	o2.modules = []runtime.Module{newCapture().module()}
	b.plan2 = run(t, src, runtime.Plan, o2)
	cl2 := &Cleanups{}
	o2.cleanups = cl2
	b.apply2 = run(t, src, runtime.Apply, o2)
	b.apply2Reqs = b.apply2.rec.all()
	if err := cl2.Run(context.Background()); err != nil && b.cleanupErr == nil {
		b.cleanupErr = err
	}
	b.cleanup2Reqs = b.apply2.rec.all()[len(b.apply2Reqs):]
	b.keysAfterApply2, _ = os.ReadFile(b.keysFile)
	return b, nil
}

// sealStatus asks the shared Vault directly, without the module.
func sealStatus() (initialized, sealed bool, err error) {
	resp, err := http.Get(srv.Addr + "/v1/sys/seal-status")
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	var st struct {
		Initialized bool `json:"initialized"`
		Sealed      bool `json:"sealed"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return false, false, err
	}
	return st.Initialized, st.Sealed, nil
}

func pgURL(user, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// pgLogin logs in as user and returns current_user.
func pgLogin(user, password string) (string, error) {
	if user == "" || password == "" {
		return "", errors.New("no credentials")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL(user, password))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var who string
	err = conn.QueryRow(ctx, "SELECT current_user").Scan(&who)
	return who, err
}

func pgRoleExists(role string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", role).Scan(&n)
	return n > 0, err
}

func countWrites(reqs []string) int { return len(writesOf(reqs)) }

func TestGuideInitUnsealLogin(t *testing.T) {
	b := bootstrap(t)

	// A pre-existing keys file is refused before init, in plan and apply.
	for name, r := range map[string]result{"plan": b.refusedPlan, "apply": b.refusedApply} {
		if r.err == nil || !strings.Contains(r.errMsg, "already exists") || !strings.Contains(r.errMsg, "vault.init") {
			t.Errorf("%s with a pre-existing keys file: want a refusal naming vault.init, got %v\n%s", name, r.err, r.all())
		}
		for _, q := range r.rec.all() {
			if strings.Contains(q, "sys/init") && !strings.HasPrefix(q, "GET") {
				t.Errorf("%s with a pre-existing keys file called %s", name, q)
			}
		}
	}
	if b.refusedInitialized {
		t.Error("Vault was initialised although the keys file existed")
	}
	if !b.refusedFileIntact {
		t.Error("the pre-existing keys file was changed")
	}

	// The live plan leaves Vault uninitialised and writes no keys file.
	if b.initializedAfterPlan {
		t.Error("the plan initialised Vault")
	}
	if b.keysFileAfterPlan {
		t.Error("the plan wrote a keys file")
	}
	if w := b.plan.rec.writes(); len(w) != 0 {
		t.Errorf("the plan wrote to Vault: %v", w)
	}
	if got := b.plan.record(t, "vault init").Action; got != runtime.Create {
		t.Errorf("plan: vault init is %s, want create", got)
	}
	if got := b.plan.record(t, "vault unseal").Action; got != runtime.Call {
		t.Errorf("plan: vault unseal is %s, want call", got)
	}
	pol := b.plan.record(t, `vault policy "nomad-server"`)
	if pol.Action != runtime.Create || !strings.Contains(strings.Join(pol.Notes, " "), "live state will be read at apply") {
		t.Errorf("plan before init: policy is %s with notes %v, want a create read at apply", pol.Action, pol.Notes)
	}

	t.Logf("live plan against an uninitialised Vault:\n%s", b.plan.plan)

	// Apply: keys file 0600, Vault unsealed.
	if b.keysMode != 0o600 {
		t.Errorf("keys file mode %v, want 0600", b.keysMode)
	}
	if b.sealedAfterApply {
		t.Error("Vault is sealed after apply")
	}
	if b.rootToken == "" || b.unsealKey == "" {
		t.Fatal("the keys file holds no root token or unseal key")
	}
	// Second apply: init is a no-op that loads the keys file, never rewritten.
	if got := b.apply2.record(t, "vault init"); got.Action != runtime.Unchanged {
		t.Errorf("second apply: vault init is %s, want unchanged", got.Action)
	}
	if got := b.apply2.record(t, "vault unseal"); got.Action != runtime.Unchanged {
		t.Errorf("second apply: vault unseal is %s, want unchanged", got.Action)
	}
	if !bytes.Equal(b.keysAfterApply, b.keysAfterApply2) {
		t.Error("the keys file changed on the second apply")
	}
	for name, r := range map[string]result{"refused plan": b.refusedPlan, "refused apply": b.refusedApply, "offline": b.offline,
		"plan": b.plan, "apply": b.apply, "plan2": b.plan2, "apply2": b.apply2} {
		noSecrets(t, r, b.rootToken, b.unsealKey, pg.Password, b.serverToken, b.credsPass)
		_ = name
	}
}

func TestGuideOfflinePlan(t *testing.T) {
	b := bootstrap(t)
	r := b.offline
	if r.err != nil {
		t.Fatalf("offline plan: %s", r.errMsg)
	}
	if n := len(r.rec.all()); n != 0 {
		t.Errorf("offline plan sent %d requests: %v", n, r.rec.all())
	}
	for _, rec := range r.res.Records {
		if rec.Action != runtime.Create && rec.Action != runtime.Call && rec.Action != runtime.Read {
			t.Errorf("offline plan: %s is %s, want create/call/read", rec.Address, rec.Action)
		}
	}
	if !strings.Contains(r.plan, "(known after apply") && r.res.Summary().KnownAfterApply == 0 {
		t.Errorf("offline plan knows everything?\n%s", r.plan)
	}
	t.Logf("offline plan:\n%s", r.plan)
}

// TestGuideIdempotent: the second plan shows every write unchanged, and the second
// apply writes nothing (the credentials read is a read, its revocation a cleanup).
func TestGuideIdempotent(t *testing.T) {
	b := bootstrap(t)
	for name, r := range map[string]result{"plan2": b.plan2, "apply2": b.apply2} {
		if r.err != nil {
			t.Fatalf("%s: %s", name, r.errMsg)
		}
		for _, rec := range r.res.Records {
			if rec.Action != runtime.Unchanged && rec.Action != runtime.Read {
				t.Errorf("%s: %s is %s (%v), want unchanged", name, rec.Address, rec.Action, rec.Diff)
			}
		}
	}
	if w := countWrites(b.apply2Reqs); w != 0 {
		t.Errorf("second apply made %d writes: %v", w, b.apply2Reqs)
	}
	t.Logf("second plan:\n%s", b.plan2.plan)
}

// TestGuideRequestCounts measures the HTTP requests of the guide's Vault steps:
//
//	go test ./builtins/vault/ -run TestGuideRequestCounts -v
func TestGuideRequestCounts(t *testing.T) {
	b := bootstrap(t)
	t.Logf("first apply: %d requests (%d writes) + %d to revoke the lease after the run:\n  %s",
		len(b.applyReqs), countWrites(b.applyReqs), len(b.cleanupReqs), strings.Join(b.applyReqs, "\n  "))
	t.Logf("second apply: %d requests (%d writes) + %d to revoke the lease after the run:\n  %s",
		len(b.apply2Reqs), countWrites(b.apply2Reqs), len(b.cleanup2Reqs), strings.Join(b.apply2Reqs, "\n  "))
	// One client per run, with keep-alive: one connection for all of them.
	if n := b.apply.rec.dialCount(); n != 1 {
		t.Errorf("first apply opened %d connections, want 1 (keep-alive)", n)
	}
	if n := b.apply2.rec.dialCount(); n != 1 {
		t.Errorf("second apply opened %d connections, want 1 (keep-alive)", n)
	}
	// One request per step to read, one to write: the budget catches a client per
	// call or a read repeated in a loop.
	if len(b.applyReqs) > 25 {
		t.Errorf("first apply made %d requests, want at most 25", len(b.applyReqs))
	}
	if len(b.apply2Reqs) > 13 {
		t.Errorf("second apply made %d requests, want at most 13", len(b.apply2Reqs))
	}
}

// TestGuideDatabaseCredentials: the credentials read in the run log in to PostgreSQL,
// and their lease is revoked when the run ends, dropping the user.
func TestGuideDatabaseCredentials(t *testing.T) {
	b := bootstrap(t)
	if b.credsUser == "" {
		t.Fatal("the run read no credentials")
	}
	if b.credsLoginErr != nil {
		t.Fatalf("the dynamic user cannot log in: %v", b.credsLoginErr)
	}
	if b.credsCurrentUser != b.credsUser {
		t.Errorf("logged in as %q, want %q", b.credsCurrentUser, b.credsUser)
	}
	if b.cleanupErr != nil {
		t.Fatalf("revoking the leases: %v", b.cleanupErr)
	}
	if len(b.cleanupReqs) != 1 || !strings.Contains(b.cleanupReqs[0], "sys/leases/revoke") {
		t.Errorf("cleanup requests %v, want one lease revocation", b.cleanupReqs)
	}
	if b.roleLeftAfterCleanup {
		t.Errorf("user %s is still in pg_roles after its lease was revoked", b.credsUser)
	}
	cfg := b.apply.record(t, `vault path "database/config/postgresql"`)
	if cfg.Action != runtime.Create {
		t.Errorf("first apply: database config is %s", cfg.Action)
	}
	cfg2 := b.plan2.record(t, `vault path "database/config/postgresql"`)
	if !strings.Contains(strings.Join(cfg2.Notes, " "), "write-only, not compared: password") {
		t.Errorf("second plan: database config notes %v, want password as write-only", cfg2.Notes)
	}
}
