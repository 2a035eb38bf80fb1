package vault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

// helperEnv makes the test binary a child process that runs one apply of helperScript
// against VAULT_ADDR with the keys file NVRUN_KEYS_FILE, so that a test can SIGKILL a
// real process at a chosen moment. "init" runs it; "init-pause" stops for ever right
// after the keys file is reserved, saying so on stdout.
const helperEnv = "NVRUN_VAULT_TEST_HELPER"

const helperScript = `
i = vault.init(key_shares = 1, key_threshold = 1)
vault.unseal(i.keys)
vault.login(i.root_token)
`

func helperMain(mode string) int {
	if mode == "init-pause" {
		testHookReserved = func(string) {
			fmt.Println("reserved")
			select {} // until SIGKILL
		}
	}
	dir, err := os.MkdirTemp("", "nvrun-vault-helper-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "main.star")
	if err := os.WriteFile(script, []byte(helperScript), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, err = runtime.Exec(context.Background(), runtime.Options{
		Script: script, Mode: runtime.Apply,
		Modules: []runtime.Module{Module(Options{KeysFile: os.Getenv("NVRUN_KEYS_FILE")})},
		Environ: []string{"VAULT_ADDR=" + os.Getenv("VAULT_ADDR")}, Out: io.Discard,
	}, runtime.NewRedactor())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// startHelper starts the test binary as a helper child process.
func startHelper(t *testing.T, mode, vaultAddr, keysFile string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{helperEnv + "=" + mode, "VAULT_ADDR=" + vaultAddr, "NVRUN_KEYS_FILE=" + keysFile,
		"PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, bufio.NewReader(out)
}

// killHelper sends SIGKILL to the helper and reaps it.
func killHelper(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("the helper was not killed by a signal: %v", err)
	}
}

func vaultInitialized(t *testing.T, addr string) bool {
	t.Helper()
	st, err := apiClient(t, addr, "").Sys().SealStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st.Initialized
}

func checkKeysFile(t *testing.T, path string, wantSize int64) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("keys file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Errorf("keys file mode %v, want a regular 0600 file", fi.Mode())
	}
	if wantSize == 0 && fi.Size() != 0 {
		t.Errorf("keys file has %d bytes, want 0", fi.Size())
	}
	if wantSize > 0 {
		if _, err := loadKeys(path, ""); err != nil {
			t.Errorf("keys file does not hold the keys: %v", err)
		}
	}
}

// SIGKILL after the keys file is reserved and before sys/init is sent leaves an empty
// keys file and an uninitialised Vault; a plain re-run takes the file over and
// initialises Vault.
func TestInitKilledAfterReserve(t *testing.T) {
	v, _ := startFreshVault(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.json")
	cmd, out := startHelper(t, "init-pause", v.Addr, keysFile)
	line, err := out.ReadString('\n')
	if err != nil || line != "reserved\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	killHelper(t, cmd)
	checkKeysFile(t, keysFile, 0)
	if vaultInitialized(t, v.Addr) {
		t.Fatal("Vault was initialised before the kill")
	}

	plan := mustRun(t, helperScript, runtime.Plan, opts{addr: v.Addr, keysFile: keysFile})
	rec := plan.record(t, "vault init")
	if rec.Action != runtime.Create || !strings.Contains(strings.Join(rec.Notes, " "), "reuses the empty keys file") {
		t.Errorf("re-plan: vault init %s %v, want a create that reuses the file", rec.Action, rec.Notes)
	}
	apply := mustRun(t, helperScript, runtime.Apply, opts{addr: v.Addr, keysFile: keysFile})
	if got := apply.record(t, "vault init").Action; got != runtime.Create {
		t.Errorf("re-run: vault init is %s", got)
	}
	checkKeysFile(t, keysFile, 1)
	if !vaultInitialized(t, v.Addr) {
		t.Error("the re-run did not initialise Vault")
	}
	doc, _ := loadKeys(keysFile, "")
	if doc != nil {
		noSecrets(t, apply, doc.RootToken, doc.keys()[0])
	}
}

// Only the empty 0600 regular file an interrupted run leaves is taken over; every other
// existing keys file is refused, in plan and apply, and left as it was.
func TestInitRefusesOtherExistingKeysFiles(t *testing.T) {
	v, _ := startFreshVault(t)
	dir := t.TempDir()
	emptyTarget := filepath.Join(dir, "target.json")
	if err := os.WriteFile(emptyTarget, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		make func(path string) error
	}{
		{"empty but 0644 (not reserved by nvrun)", func(p string) error {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			return os.Chmod(p, 0o644)
		}},
		{"not empty", func(p string) error { return os.WriteFile(p, []byte("{}\n"), 0o600) }},
		{"a symlink to an empty 0600 file", func(p string) error { return os.Symlink(emptyTarget, p) }},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
	} {
		path := filepath.Join(t.TempDir(), "vault-keys.json")
		if err := c.make(path); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Lstat(path)
		for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
			r := run(t, helperScript, mode, opts{addr: v.Addr, keysFile: path})
			if r.err == nil || !strings.Contains(r.errMsg, "already exists") {
				t.Errorf("%s, %s: %v, want a refusal", c.name, mode, r.errMsg)
			}
		}
		after, _ := os.Lstat(path)
		if after == nil || after.Size() != before.Size() || after.Mode() != before.Mode() {
			t.Errorf("%s: the file changed", c.name)
		}
	}
	if vaultInitialized(t, v.Addr) {
		t.Error("Vault was initialised")
	}

	// Vault refusing the init (a PGP key it cannot parse) leaves no keys file behind: the
	// reservation is removed, and Vault stays uninitialised.
	path := filepath.Join(t.TempDir(), "vault-keys.json")
	r := run(t, `vault.init(key_shares = 1, key_threshold = 1, pgp_keys = ["bm90LWEta2V5"])`, runtime.Apply, opts{addr: v.Addr, keysFile: path})
	if r.err == nil || !strings.Contains(r.errMsg, "answered 400") {
		t.Errorf("init with a bad PGP key: %v", r.errMsg)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Error("a refused init left its keys file")
	}
	if vaultInitialized(t, v.Addr) {
		t.Error("Vault was initialised with a bad PGP key")
	}
}

// Two runs cannot hold the same reserved keys file: the second is refused while the
// first holds it.
func TestReserveKeysFileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	f, reused, err := reserveKeysFile(path)
	if err != nil || reused {
		t.Fatal(err, reused)
	}
	if _, _, err := reserveKeysFile(path); err == nil || !strings.Contains(err.Error(), "another nvrun run is initialising") {
		t.Errorf("second reservation while the first holds it: %v", err)
	}
	f.Close() // as a killed run's would be
	g, reused, err := reserveKeysFile(path)
	if err != nil || !reused {
		t.Fatalf("taking over the empty file: %v (reused %v)", err, reused)
	}
	g.Close()
}

// cutProxy is a reverse proxy in front of a real Vault that, for PUT sys/init, either
// cuts the answer's body after half its bytes, or holds the (complete) answer until
// released, telling the test that Vault has answered.
type cutProxy struct {
	srv      *httptest.Server
	hold     bool
	answered chan struct{} // closed when Vault has answered sys/init
	release  chan struct{}
	once     sync.Once
}

func newCutProxy(t *testing.T, target string, hold, flushBody bool) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{hold: hold, answered: make(chan struct{}), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // the cut is on purpose
	if flushBody {
		rp.FlushInterval = -1 // every write goes out at once: the client gets half a body
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodPut || resp.Request.URL.Path != "/v1/sys/init" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		p.once.Do(func() { close(p.answered) })
		if p.hold {
			<-p.release
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return nil
		}
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), errReader{}))
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(func() {
		p.releaseAll()
		p.srv.Close()
	})
	return p
}

func (p *cutProxy) releaseAll() {
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

// errReader is a body that breaks: the proxy then aborts the answer mid-body.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection cut by the test proxy") }

// The errors a re-run gives for an initialised Vault whose keys file holds no keys.
var cutOffWords = []string{"cut off after Vault initialised", "cannot be recovered", "stop Vault, wipe its storage directory",
	"start it again", "initialised elsewhere on purpose", "VAULT_TOKEN"}

// A cut-off sys/init answer (the connection closed before the answer, or the body
// truncated half-way): Vault is initialised, its keys never arrive whole. The run fails
// saying so, keeps the empty keys file as the marker, and a re-run says what happened
// and how to reset. Following that advice (stop Vault, wipe its storage, start it) and
// re-running then works, reusing the keys file.
func TestInitTruncatedAnswer(t *testing.T) {
	for _, c := range []struct {
		name      string
		flushBody bool // send the headers and half the body before the cut
		cause     string
	}{
		{"connection closed before the answer", false, "(EOF)"},
		{"body cut half-way", true, "(unexpected EOF)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, stopVault := startFreshVault(t)
			proxy := newCutProxy(t, v.Addr, false, c.flushBody)
			keysFile := filepath.Join(t.TempDir(), "vault-keys.json")

			r := run(t, helperScript, runtime.Apply, opts{addr: proxy.srv.URL, keysFile: keysFile})
			if r.err == nil {
				t.Fatal("apply through a proxy that cuts sys/init's answer succeeded")
			}
			t.Logf("apply through the cutting proxy: %s", r.errMsg)
			for _, want := range append([]string{"vault.init", "answer to sys/init was cut off " + c.cause, keysFile + " is left empty"}, cutOffWords...) {
				if !strings.Contains(r.errMsg, want) {
					t.Errorf("error lacks %q:\n%s", want, r.errMsg)
				}
			}
			if !vaultInitialized(t, v.Addr) {
				t.Fatal("Vault is not initialised: the proxy cut nothing that mattered")
			}
			checkKeysFile(t, keysFile, 0)

			// The re-run, without the proxy, in plan and apply.
			for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
				r := run(t, helperScript, mode, opts{addr: v.Addr, keysFile: keysFile})
				for _, want := range append([]string{"vault.init", "the keys file " + keysFile + " is empty", "an earlier vault.init by nvrun"}, cutOffWords...) {
					if !strings.Contains(r.errMsg, want) {
						t.Errorf("re-%s: error lacks %q:\n%s", mode, want, r.errMsg)
					}
				}
				if w := r.rec.writes(); len(w) != 0 {
					t.Errorf("re-%s wrote: %v", mode, w)
				}
				if mode == runtime.Apply {
					t.Logf("the re-run: %s", r.errMsg)
				}
			}

			// The advice, followed: stop Vault, wipe its storage, start it again, re-run.
			stopVault()
			if err := os.RemoveAll(filepath.Join(v.Dir, "storage")); err != nil {
				t.Fatal(err)
			}
			v2, err := testserver.StartVault(v.Dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(keepStopper(v2))
			mustRun(t, helperScript, runtime.Apply, opts{addr: v2.Addr, keysFile: keysFile})
			checkKeysFile(t, keysFile, 1)
		})
	}
}

// SIGKILL while Vault's answer to sys/init is on its way (Vault has initialised; the
// answer is held by a proxy): the keys file stays empty, and the re-run says what
// happened.
func TestInitKilledDuringAnswer(t *testing.T) {
	v, _ := startFreshVault(t)
	proxy := newCutProxy(t, v.Addr, true, false)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.json")
	cmd, _ := startHelper(t, "init", proxy.srv.URL, keysFile)
	select {
	case <-proxy.answered:
	case <-time.After(2 * time.Minute): // a hang guard, not a timed assertion
		t.Fatal("Vault never answered sys/init")
	}
	killHelper(t, cmd)
	proxy.releaseAll()
	checkKeysFile(t, keysFile, 0)
	if !vaultInitialized(t, v.Addr) {
		t.Fatal("Vault is not initialised")
	}
	r := run(t, helperScript, runtime.Apply, opts{addr: v.Addr, keysFile: keysFile})
	for _, want := range append([]string{"the keys file " + keysFile + " is empty"}, cutOffWords...) {
		if !strings.Contains(r.errMsg, want) {
			t.Errorf("re-run: error lacks %q:\n%s", want, r.errMsg)
		}
	}
}

// A keys file that is there but holds no keys, on an initialised Vault: what happened and
// how to reset; a missing one: initialised elsewhere.
func TestInitKeysFileUnusable(t *testing.T) {
	ev := existingVaultFor(t)
	for _, c := range []struct {
		name, content string
		want          []string
	}{
		{"empty", "", append([]string{"is empty"}, cutOffWords...)},
		{"not JSON", "{\"unseal_keys_b64\": [\"abc", []string{"is not valid JSON", "cut off while writing it", "cannot be recovered", "wipe its storage directory"}},
		{"no keys", "{\"root_token\": \"x\"}\n", []string{"holds no unseal_keys_b64", "cannot be recovered"}},
	} {
		path := filepath.Join(t.TempDir(), "vault-keys.json")
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
			r := run(t, helperScript, mode, opts{addr: ev.srv.Addr, keysFile: path})
			for _, want := range append([]string{"vault.init", path}, c.want...) {
				if !strings.Contains(r.errMsg, want) {
					t.Errorf("%s, %s: error lacks %q:\n%s", c.name, mode, want, r.errMsg)
				}
			}
			if data, _ := os.ReadFile(path); string(data) != c.content {
				t.Errorf("%s, %s: the keys file changed", c.name, mode)
			}
		}
	}
}

// BenchmarkInitKeysWindow measures the window in which the keys exist only in nvrun's
// memory: from the last byte of Vault's answer to sys/init read off the connection to
// the return of the fsync of the keys file's directory. Each iteration initialises a
// fresh Vault (started outside the timer); the reported metric is the median.
//
//	go test ./builtins/vault -run '^$' -bench InitKeysWindow -benchtime 15x
func BenchmarkInitKeysWindow(b *testing.B) {
	var windows []time.Duration
	defer func() { testHookSaved = nil }()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		v, stopVault := startFreshVault(b)
		keysFile := filepath.Join(b.TempDir(), "vault-keys.json")
		var lastRead, saved time.Time
		testHookSaved = func() { saved = time.Now() }
		wrap := func(base http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := base.RoundTrip(req)
				if err == nil && req.URL.Path == "/v1/sys/init" {
					resp.Body = &timedBody{ReadCloser: resp.Body, last: &lastRead}
				}
				return resp, err
			})
		}
		dir := b.TempDir()
		script := filepath.Join(dir, "main.star")
		if err := os.WriteFile(script, []byte("vault.init(key_shares = 1, key_threshold = 1)\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		_, err := runtime.Exec(context.Background(), runtime.Options{
			Script: script, Mode: runtime.Apply, SkipPreflight: true,
			Modules: []runtime.Module{Module(Options{KeysFile: keysFile, WrapTransport: wrap})},
			Environ: []string{"VAULT_ADDR=" + v.Addr}, Out: io.Discard,
		}, runtime.NewRedactor())
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if lastRead.IsZero() || saved.IsZero() {
			b.Fatal("the window was not measured")
		}
		windows = append(windows, saved.Sub(lastRead))
		stopVault()
	}
	sorted := append([]time.Duration(nil), windows...)
	for i := range sorted { // tiny insertion sort: no extra import for one benchmark
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	med := sorted[len(sorted)/2]
	b.ReportMetric(float64(med.Microseconds()), "µs-window-median")
	b.ReportMetric(float64(sorted[len(sorted)-1].Microseconds()), "µs-window-max")
	b.Logf("answer-read to fsync-return over %d inits: median %s, min %s, max %s", len(sorted), med, sorted[0], sorted[len(sorted)-1])
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// timedBody notes when the last byte of a body was read.
type timedBody struct {
	io.ReadCloser
	last *time.Time
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		*b.last = time.Now()
	}
	return n, err
}
