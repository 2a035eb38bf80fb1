package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nvrun/nvrun/internal/localstack"
)

// canaryPassword is the database root password of the end-to-end run: recognisable, so
// that a leak anywhere is found.
const canaryPassword = "CanaryDbPw-3f9c1e7a"

var guideNames = []string{"John Doe", "Peter Parker", "Clifford Roosevelt", "Bruce Wayne", "Steven Clark", "Mary Jane"}

// TestGuideEndToEnd runs the whole guide for real, from nothing: an uninitialised Vault,
// an empty Consul, and the Nomad double with an agent config file (there is no real
// Nomad here). It plans, applies, re-applies, re-plans, then forks the guide through vars.
func TestGuideEndToEnd(t *testing.T) {
	start := time.Now()
	e := newE2E(t, "")
	stack := e.stack
	initialConfig, err := os.ReadFile(stack.AgentConfig)
	if err != nil {
		t.Fatal(err)
	}

	base := stackArgs(stack.VarFiles())

	// 1. A live plan of everything changes nothing.
	doc := e.runJSON(append(base, "--plan")...)
	if len(doc.Steps) != 15 {
		t.Fatalf("plan has %d steps, want 15", len(doc.Steps))
	}
	for _, s := range doc.Steps {
		if s.Number != 3 && len(s.Records) == 0 { // step 3 (login) records nothing
			t.Errorf("plan step %d (%s) plans nothing", s.Number, s.Title)
		}
	}
	if e.vaultInitialized() {
		t.Fatal("the plan initialised Vault")
	}
	if now, _ := os.ReadFile(stack.AgentConfig); string(now) != string(initialConfig) {
		t.Fatal("the plan changed the agent config")
	}
	if _, err := os.Stat(stack.KeysFile); err == nil {
		t.Fatal("the plan wrote a keys file")
	}

	e.requests() // the plan's requests are not counted below

	// 2. Apply: all 15 steps, for real.
	doc = e.runJSON(base...)
	first, firstWrites, _ := e.requests()
	if doc.Summary.Failed != 0 || len(doc.Steps) != 15 {
		t.Fatalf("apply: %d failed, %d steps", doc.Summary.Failed, len(doc.Steps))
	}
	for _, f := range []string{stack.KeysFile, stack.AgentConfig} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", filepath.Base(f), fi.Mode().Perm(), err)
		}
	}
	serverToken1 := e.serverToken()
	// From here on, Vault logs raw answers: the test learns the credentials step 12
	// generates inside nvrun (and revokes), to look for them in nvrun's output.
	audit := e.enableRawAudit()
	e.checkTaskToken("nomad-cluster", "access-tables")
	e.checkDynamicCredentials()
	e.checkNamesPage()
	regs := map[string]int{}
	for _, job := range []string{"postgres-nomad-demo", "nomad-vault-demo"} {
		regs[job] = stack.Nomad.Registrations(job)
	}

	// 3. A second apply changes nothing: no token minted, no job re-registered.
	configBefore, _ := os.ReadFile(stack.AgentConfig)
	res := e.run(append(base, "--json", "--detailed-exitcode")...)
	if res.code != 0 {
		t.Fatalf("second apply: exit %d (want 0: no changes)\n%s", res.code, res.stderr)
	}
	doc = parseDoc(t, res.stdout)
	if s := doc.Summary; s.Create+s.Update+s.Delete+s.Call != 0 {
		t.Fatalf("second apply changed things: %+v", s)
	}
	if after, _ := os.ReadFile(stack.AgentConfig); string(after) != string(configBefore) || e.serverToken() != serverToken1 {
		t.Fatal("second apply rewrote the agent config or minted a new server token")
	}
	for job, n := range regs {
		if got := stack.Nomad.Registrations(job); got != n {
			t.Errorf("second apply re-registered %s (%d -> %d registrations)", job, n, got)
		}
	}
	second, secondWrites, secondLog := e.requests()
	t.Logf("HTTP requests (vault, nomad, consul): first apply %v with %v writes; second apply %v with %v writes",
		first, firstWrites, second, secondWrites)
	// The one write a second apply makes is step 12's: it generates credentials to prove
	// the engine works, and revokes their lease.
	if got := strings.Join(secondLog, ", "); got != "PUT /v1/sys/leases/revoke" {
		t.Errorf("second apply wrote: %s", got)
	}

	// 4. A second plan: nothing to do.
	res = e.run(append(base, "--plan")...)
	if res.code != 0 || !strings.Contains(res.stdout, "0 to create, 0 to update, 0 to delete, 0 to call") {
		t.Fatalf("second plan (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	}

	// 5. A fork through vars: other role and policy names and TTLs. The plan shows exactly
	// what those vars change, and apply converges.
	fork := append(slices.Clone(base),
		"--var", "token_role=nomad-fork", "--var", "server_policy=nomad-server-fork",
		"--var", "task_policy=access-fork", "--var", "db_role=accessfork",
		"--var", "default_ttl=30m", "--var", "task_token_ttl=30m")
	doc = e.runJSON(append(fork, "--plan")...)
	got := map[string]string{}
	for _, s := range doc.Steps {
		for _, r := range s.Records {
			if r.Action != "unchanged" && r.Action != "read" {
				got[r.Address] = r.Action
			}
		}
	}
	want := map[string]string{
		`vault policy "nomad-server-fork"`:               "create",
		`vault token role "nomad-fork"`:                  "create",
		`vault token "nomad-server-fork"`:                "create",
		`nomad agent_config "` + stack.AgentConfig + `"`: "update",
		`vault path "database/config/postgresql"`:        "update",
		`vault path "database/roles/accessfork"`:         "create",
		`vault policy "access-fork"`:                     "create",
		`nomad job "nomad-vault-demo"`:                   "update",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fork plan changes:\n got  %v\n want %v", got, want)
	}
	// Read ahead (the default) or one by one, the plan is the same, byte for byte.
	for _, format := range [][]string{nil, {"--json"}} {
		args := append(append(slices.Clone(fork), "--plan"), format...)
		ahead, seq := e.run(args...), e.run(append(args, "--parallelism", "1")...)
		if ahead.code != seq.code || ahead.stdout != seq.stdout || ahead.stderr != seq.stderr {
			t.Fatalf("fork plan %v read ahead (exit %d):\n%s%s\none by one (exit %d):\n%s%s",
				format, ahead.code, ahead.stdout, ahead.stderr, seq.code, seq.stdout, seq.stderr)
		}
	}
	doc = e.runJSON(fork...)
	if doc.Summary.Failed != 0 {
		t.Fatalf("fork apply failed: %+v", doc.Summary)
	}
	e.checkTaskToken("nomad-fork", "access-fork")
	e.checkDynamicCredentials()
	e.checkNamesPage()
	if res := e.run(append(fork, "--plan", "--detailed-exitcode")...); res.code != 0 {
		t.Fatalf("the fork did not converge: plan after apply exits %d\n%s", res.code, res.stdout)
	}

	generated := e.generatedPasswords(audit)
	// Each apply after the audit device was enabled ran step 12 (the second apply and the
	// fork); the double's template renders read credentials too.
	if len(generated) < 2 {
		t.Fatalf("the audit log shows %d generated database passwords, want at least 2 (step 12 of two applies)", len(generated))
	}
	e.checkNoSecretLeaked(append([]string{serverToken1, e.serverToken()}, generated...)...)
	t.Logf("end-to-end wall time: %s", time.Since(start).Round(100*time.Millisecond))
}

type e2e struct {
	t       *testing.T
	script  string // "" means scripts/guide.star
	stack   *localstack.Stack
	proxies map[string]*countingProxy // by the env var that points nvrun at it
	outputs []string                  // every stdout and stderr nvrun printed
	// taskSecrets are the web task's Vault tokens and the passwords its template
	// rendered, as the checks found them: canaries like the others.
	taskSecrets []string
}

// requests returns, per server (vault, nomad, consul), how many requests nvrun sent
// since the last call and how many of them wrote, and the writes themselves.
func (e *e2e) requests() (all, wrote [3]int, writeLog []string) {
	for i, k := range []string{"VAULT_ADDR", "NOMAD_ADDR", "CONSUL_HTTP_ADDR"} {
		log := e.proxies[k].take()
		w := writes(log)
		all[i], wrote[i] = len(log), len(w)
		writeLog = append(writeLog, w...)
	}
	return all, wrote, writeLog
}

func (e *e2e) run(args ...string) cli {
	e.t.Helper()
	env := e.stack.Env()
	for k, p := range e.proxies {
		env = append(env, k+"="+p.srv.URL) // later entries win
	}
	script := e.script
	if script == "" {
		script = "scripts/guide.star"
	}
	res := nvrun(e.t, nil, env, append(args, script)...)
	e.outputs = append(e.outputs, res.stdout, res.stderr)
	return res
}

// runJSON runs with --json and fails the test on a non-zero exit.
func (e *e2e) runJSON(args ...string) planDoc {
	e.t.Helper()
	res := e.run(append(args, "--json")...)
	if res.code != 0 {
		e.t.Fatalf("nvrun %v: exit %d\n%s\n%s", args, res.code, res.stderr, res.stdout)
	}
	return parseDoc(e.t, res.stdout)
}

type planDoc struct {
	Steps []struct {
		Number  int
		Title   string
		Records []struct {
			Address string
			Action  string
			Status  string
		}
	}
	Summary struct {
		Create, Update, Delete, Call, Failed int
	}
}

func parseDoc(t *testing.T, s string) planDoc {
	t.Helper()
	var d planDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return d
}

func (e *e2e) vaultInitialized() bool {
	var st struct{ Initialized bool }
	e.getJSON(e.stack.Vault.Addr+"/v1/sys/init", "", &st)
	return st.Initialized
}

func (e *e2e) getJSON(url, token string, into any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
}

var tokenAttr = regexp.MustCompile(`(?m)^\s*token\s*=\s*"([^"]+)"`)

// serverToken is the Nomad server token in the agent config.
func (e *e2e) serverToken() string {
	b, _ := os.ReadFile(e.stack.AgentConfig)
	m := tokenAttr.FindSubmatch(b)
	if m == nil {
		e.t.Fatal("no token in the agent config")
	}
	return string(m[1])
}

// webAlloc is the running allocation of the web job.
func (e *e2e) webTaskDir() string {
	for _, a := range e.stack.Nomad.Allocations("nomad-vault-demo") {
		if a.ClientStatus == "running" && a.DesiredStatus == "run" {
			return e.stack.Nomad.TaskDir(a.ID, "server")
		}
	}
	e.t.Fatal("no running allocation of nomad-vault-demo")
	return ""
}

// checkTaskToken: the web task's Vault token was created from the token role, with
// only the task policy.
func (e *e2e) checkTaskToken(role, policy string) {
	e.t.Helper()
	tok, err := os.ReadFile(filepath.Join(e.webTaskDir(), "secrets", "vault_token"))
	if err != nil {
		e.t.Fatal(err)
	}
	var look struct {
		Data struct {
			Role     string
			Policies []string
		}
	}
	e.taskSecrets = append(e.taskSecrets, strings.TrimSpace(string(tok)))
	e.getJSON(e.stack.Vault.Addr+"/v1/auth/token/lookup-self", strings.TrimSpace(string(tok)), &look)
	if look.Data.Role != role || !slices.Contains(look.Data.Policies, policy) {
		e.t.Fatalf("task token: role %q policies %v, want role %q with %q", look.Data.Role, look.Data.Policies, role, policy)
	}
}

// checkDynamicCredentials: the template rendered real dynamic credentials, which log in.
func (e *e2e) checkDynamicCredentials() {
	e.t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.webTaskDir(), "secrets", "config.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var c struct {
		Host, Username, Password, DB string
		Port                         int
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		e.t.Fatalf("rendered config is not JSON: %v", err)
	}
	e.taskSecrets = append(e.taskSecrets, c.Password)
	if !strings.HasPrefix(c.Username, "v-") || c.Username == "postgres" {
		e.t.Fatalf("rendered username %q is not a Vault dynamic user", c.Username)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", c.Username, c.Host, c.Port, c.DB))
	if err == nil {
		conn.Close(ctx)
		e.t.Fatal("connected without the password")
	}
	cfg, _ := pgx.ParseConfig(fmt.Sprintf("postgres://%s:%d/%s?sslmode=disable", c.Host, c.Port, c.DB))
	cfg.User, cfg.Password = c.Username, c.Password
	conn, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		e.t.Fatalf("dynamic credentials do not log in: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM names").Scan(&n); err != nil || n != 6 {
		e.t.Fatalf("SELECT count(*) FROM names as %s: %d, %v", c.Username, n, err)
	}
}

// checkNamesPage: the app, found through Consul as step 15 finds it, lists the names.
func (e *e2e) checkNamesPage() {
	e.t.Helper()
	var entries []struct {
		Service struct {
			Address string
			Port    int
		}
	}
	e.getJSON(e.stack.Consul.HTTPAddr+"/v1/health/service/nomad-vault-demo?passing=true", "", &entries)
	if len(entries) != 1 {
		e.t.Fatalf("%d passing nomad-vault-demo instances, want 1", len(entries))
	}
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/names", entries[0].Service.Address, entries[0].Service.Port))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, n := range guideNames {
		if !strings.Contains(string(page), "<h4> "+n+" </h4>") {
			e.t.Fatalf("/names lacks %q:\n%s", n, page)
		}
	}
}

// rootToken is the root token from the keys file the first apply wrote.
func (e *e2e) rootToken() string {
	e.t.Helper()
	var keys struct {
		RootToken string `json:"root_token"`
	}
	raw, err := os.ReadFile(e.stack.KeysFile)
	if err != nil || json.Unmarshal(raw, &keys) != nil || keys.RootToken == "" {
		e.t.Fatalf("keys file unreadable: %v", err)
	}
	return keys.RootToken
}

// enableRawAudit enables a Vault file audit device with log_raw, so that the log holds
// the plain answers Vault gave, credentials included. It returns the log's path, outside
// the stack's directory (whose files must hold no secret).
func (e *e2e) enableRawAudit() string {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "vault-audit.log")
	body := fmt.Sprintf(`{"type": "file", "options": {"file_path": %q, "log_raw": "true"}}`, path)
	req, _ := http.NewRequest(http.MethodPut, e.stack.Vault.Addr+"/v1/sys/audit/nvrun-e2e-canary", strings.NewReader(body))
	req.Header.Set("X-Vault-Token", e.rootToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("enable the audit device: %s: %s", resp.Status, msg)
	}
	return path
}

// generatedPasswords are the passwords of every database credential Vault generated
// since the audit device was enabled: step 12's (which only nvrun ever saw) and the
// template's.
func (e *e2e) generatedPasswords(auditLog string) []string {
	e.t.Helper()
	raw, err := os.ReadFile(auditLog)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		var entry struct {
			Type     string
			Request  struct{ Path string }
			Response struct {
				Data map[string]any
			}
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Type != "response" || !strings.Contains(entry.Request.Path, "/creds/") {
			continue
		}
		if pw, ok := entry.Response.Data["password"].(string); ok && pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// newE2E starts the local stack (real Vault, Consul and PostgreSQL, the Nomad double),
// stopped when the test ends, with a counting proxy in front of each server; script ""
// is scripts/guide.star.
func newE2E(t *testing.T, script string) *e2e {
	t.Helper()
	stack, err := localstack.Start("", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	return &e2e{t: t, script: script, stack: stack, proxies: map[string]*countingProxy{
		"VAULT_ADDR":       newCountingProxy(t, stack.Vault.Addr),
		"NOMAD_ADDR":       newCountingProxy(t, stack.Nomad.URL),
		"CONSUL_HTTP_ADDR": newCountingProxy(t, stack.Consul.HTTPAddr),
	}}
}

// stackArgs are a run's arguments on the local stack: the canary DB password, and the
// stack's var files.
func stackArgs(varFiles []string) []string {
	args := []string{"--var", "db_password=" + canaryPassword}
	for _, f := range varFiles {
		args = append(args, "--var-file", f)
	}
	return args
}

// checkNoSecretLeaked: the DB password, the root token, the unseal key, the task's
// tokens and rendered passwords, and the other secrets given (server tokens, generated
// database passwords, identity JWTs) appear in no output, and in no file nvrun wrote but
// the keys file and the agent config.
func (e *e2e) checkNoSecretLeaked(others ...string) {
	e.t.Helper()
	var keys struct {
		RootToken     string   `json:"root_token"`
		UnsealKeysB64 []string `json:"unseal_keys_b64"`
		UnsealKeysHex []string `json:"unseal_keys_hex"`
	}
	raw, err := os.ReadFile(e.stack.KeysFile)
	if err != nil || json.Unmarshal(raw, &keys) != nil || keys.RootToken == "" {
		e.t.Fatalf("keys file unreadable: %v", err)
	}
	secrets := append([]string{canaryPassword, keys.RootToken}, others...)
	secrets = append(secrets, e.taskSecrets...)
	secrets = append(append(secrets, keys.UnsealKeysB64...), keys.UnsealKeysHex...)
	for i, out := range e.outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				e.t.Fatalf("output %d leaks a secret (%d chars)", i, len(s))
			}
		}
	}
	// Files nvrun wrote: everything in the stack's top directory but the two that hold
	// secrets by design, and the var file the test wrote.
	entries, _ := os.ReadDir(e.stack.Dir)
	for _, ent := range entries {
		p := filepath.Join(e.stack.Dir, ent.Name())
		if ent.IsDir() || p == e.stack.KeysFile || p == e.stack.AgentConfig {
			continue
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				e.t.Fatalf("%s leaks a secret", ent.Name())
			}
		}
	}
}
