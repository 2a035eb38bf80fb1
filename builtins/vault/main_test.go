package vault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

// The one real Vault (started uninitialised) and PostgreSQL this package's tests share,
// started together by the first test that needs them (servers): the pure tests
// (argument errors, offline plans, policy parsing and rendering) run without them.
var (
	srv        *testserver.Vault
	pg         *testserver.Postgres
	work       string // a scratch dir for keys files and the servers' data
	serverOnce sync.Once
	serverErr  error
)

// servers starts the shared Vault and PostgreSQL on first use. A test that needs them
// fails (never skips) when they cannot start: these tests exist to run against them.
func servers(t testing.TB) {
	t.Helper()
	serverOnce.Do(func() {
		start := time.Now()
		if srv, serverErr = testserver.StartVault(filepath.Join(work, "vault")); serverErr != nil {
			serverErr = fmt.Errorf("builtins/vault tests need a real Vault: %w", serverErr)
			return
		}
		if pg, serverErr = testserver.StartPostgres(filepath.Join(work, "pg")); serverErr != nil {
			serverErr = fmt.Errorf("builtins/vault tests need a real PostgreSQL: %w", serverErr)
			return
		}
		fmt.Fprintf(os.Stderr, "vault %s and postgres %s:%d up in %s\n", srv.Addr, pg.Host, pg.Port, time.Since(start).Round(time.Millisecond))
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if mode := os.Getenv(helperEnv); mode != "" {
		return helperMain(mode) // a child process of a test (interrupt_test.go); no servers
	}
	dir, err := os.MkdirTemp("", "nvrun-vault-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	work = dir
	// Both by PID (process group). Vault first: PostgreSQL's shutdown waits for the
	// connections Vault's database engine holds.
	defer func() {
		if srv != nil {
			srv.Stop()
		}
		stopExtraVaults()
		if pg != nil {
			pg.Stop()
		}
	}()
	return m.Run()
}

// recorder counts the requests the module's Vault client really sends.
type recorder struct {
	base  http.RoundTripper
	mu    sync.Mutex
	reqs  []string // "PUT /v1/sys/policies/acl/x"
	dials int      // TCP connections opened: keep-alive keeps this at 1
}

// wrap is Options.WrapTransport: it records requests, and counts the connections the
// module's own transport dials.
func (r *recorder) wrap(base http.RoundTripper) http.RoundTripper {
	if tr, ok := base.(*http.Transport); ok {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			r.mu.Lock()
			r.dials++
			r.mu.Unlock()
			return dial(ctx, network, addr)
		}
	}
	r.base = base
	return r
}

func (r *recorder) dialCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// writes are the requests that change something: not GETs (LIST is a GET with
// ?list=true), and not the read-only POSTs that carry a token in their body rather
// than in a URL.
func (r *recorder) writes() []string { return writesOf(r.all()) }

var readOnlyPOSTs = map[string]bool{"POST /v1/auth/token/lookup": true, "POST /v1/auth/token/lookup-accessor": true, "POST /v1/sys/capabilities": true}

func writesOf(reqs []string) []string {
	var out []string
	for _, q := range reqs {
		if !strings.HasPrefix(q, "GET ") && !readOnlyPOSTs[q] {
			out = append(out, q)
		}
	}
	return out
}

// result is the outcome of one Exec, with every output it produced.
type result struct {
	res    *runtime.Result
	err    error
	out    string // print() and progress
	plan   string // plan text, or the apply summary
	json   string
	errMsg string
	stderr string // Options.Stderr
	rec    *recorder
}

func (r result) all() string { return r.out + r.plan + r.json + r.errMsg + r.stderr }

// records returns "action address" for each record, for compact assertions.
func (r result) records() []string {
	var out []string
	if r.res == nil {
		return nil
	}
	for _, rec := range r.res.Records {
		out = append(out, string(rec.Action)+" "+rec.Address)
	}
	return out
}

// record finds the record for address.
func (r result) record(t *testing.T, address string) *runtime.Record {
	t.Helper()
	if r.res != nil {
		for _, rec := range r.res.Records {
			if rec.Address == address {
				return rec
			}
		}
	}
	t.Fatalf("no record for %s; records: %v\n%s", address, r.records(), r.all())
	return nil
}

type opts struct {
	offline       bool
	skipPreflight bool
	token         string   // VAULT_TOKEN; "" means none
	addr          string   // VAULT_ADDR; "" means the shared server
	keysFile      string   // "" means a fresh path in the test's temp dir
	vars          []string // --var k=v
	cleanups      *Cleanups
	modules       []runtime.Module // besides vault (e.g. capture)
	env           []string         // more environment (HOME, ...)
	parallelism   int              // Options.Parallelism; 0: the default
}

// run executes src in mode against the shared Vault.
func run(t *testing.T, src string, mode runtime.Mode, o opts) result {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "main.star")
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var stderr bytes.Buffer
	if o.cleanups == nil {
		// The caller does not look at them: revoke at the end, as a host does.
		o.cleanups = &Cleanups{}
		defer func() {
			if err := o.cleanups.Run(context.Background()); err != nil {
				t.Errorf("cleanups: %v", err)
			}
		}()
	}
	cfg := Options{
		KeysFile: o.keysFile, Stderr: &stderr, Cleanups: o.cleanups,
		WrapTransport: rec.wrap,
	}
	if cfg.KeysFile == "" {
		cfg.KeysFile = filepath.Join(dir, "vault-keys.json")
	}
	addr := o.addr
	if addr == "" && !o.offline {
		servers(t)
		addr = srv.Addr
	}
	var env []string
	if addr != "" { // an offline plan talks to no Vault: it needs none
		env = append(env, "VAULT_ADDR="+addr)
	}
	if o.token != "" {
		env = append(env, "VAULT_TOKEN="+o.token)
	}
	env = append(env, o.env...)
	var out bytes.Buffer
	red := runtime.NewRedactor()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := runtime.Exec(ctx, runtime.Options{
		Script: script, Mode: mode, Offline: o.offline, SkipPreflight: o.skipPreflight,
		Modules: append([]runtime.Module{Module(cfg)}, o.modules...), Environ: env, Vars: o.vars, Out: &out,
		Parallelism: o.parallelism,
	}, red)
	r := result{res: res, err: err, out: out.String(), stderr: stderr.String(), rec: rec}
	if res != nil {
		var plan, js bytes.Buffer
		if mode == runtime.Plan {
			_ = res.WritePlan(red.Writer(&plan), runtime.RenderOptions{})
		} else {
			_ = res.WriteApplySummary(red.Writer(&plan), runtime.RenderOptions{})
		}
		msg := ""
		if err != nil {
			msg = red.Redact(err.Error())
		}
		_ = res.WriteJSON(red.Writer(&js), msg)
		r.plan, r.json = plan.String(), js.String()
	}
	if err != nil {
		r.errMsg = red.Redact(err.Error())
	}
	return r
}

// mustRun is run that fails the test on a run error.
func mustRun(t *testing.T, src string, mode runtime.Mode, o opts) result {
	t.Helper()
	r := run(t, src, mode, o)
	if r.err != nil {
		t.Fatalf("%s failed: %s\n%s", mode, r.errMsg, r.all())
	}
	return r
}

// noSecrets fails if any of secrets appears in any output of r.
func noSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	all := r.all()
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("a secret (%d chars) appears in the output", len(s))
		}
	}
}

// counts summarises a run's records by action.
func counts(r result) map[runtime.Action]int {
	m := map[runtime.Action]int{}
	if r.res != nil {
		for _, rec := range r.res.Records {
			m[rec.Action]++
		}
	}
	return m
}

// capture is a test-only module: capture.put(name, value) hands a script's value
// (secrets revealed, unknowns as nil) to the test, which is how a test gets at a token
// or credentials that no output may show.
type capture struct {
	mu     sync.Mutex
	values map[string]any
}

func newCapture() *capture { return &capture{values: map[string]any{}} }

func (c *capture) module() runtime.Module {
	return runtime.Module{Name: "capture", New: func(r *runtime.Run) (starlark.Value, error) {
		put := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name string
			var v starlark.Value
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "value", &v); err != nil {
				return nil, err
			}
			var g any
			if !runtime.IsUnknown(v) {
				var err error
				if g, err = runtime.ToGo(v); err != nil {
					return nil, err
				}
			}
			c.mu.Lock()
			c.values[name] = g
			c.mu.Unlock()
			return starlark.None, nil
		}
		return &starlarkstruct.Module{Name: "capture", Members: starlark.StringDict{"put": starlark.NewBuiltin("capture.put", put)}}, nil
	}}
}

func (c *capture) get(name string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[name]
}

func (c *capture) str(t *testing.T, name string) string {
	t.Helper()
	s, ok := c.get(name).(string)
	if !ok || s == "" {
		t.Fatalf("capture %s: want a string, got %#v", name, c.get(name))
	}
	return s
}
