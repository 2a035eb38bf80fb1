package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/internal/localstack"
	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

// serverTokenAddr is the address of the guide's step 6 token, which its metadata names.
const serverTokenAddr = `vault token "nomad-server"`

// child is an nvrun process.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error
}

// startNvrun starts nvrun as a process with env as its whole environment.
func startNvrun(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], append(args, "scripts/guide.star")...)
	c.cmd.Dir = testserver.RepoRoot()
	c.cmd.Env = append(slices.Clone(env), asCLIEnv+"=1")
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits for the process to end and returns its exit code (-1 if a signal killed it).
func (c *child) wait() int {
	<-c.done
	return c.cmd.ProcessState.ExitCode()
}

// syncBuffer is an output a test can watch for a line while the process runs.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{written: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.written)
	b.written = make(chan struct{})
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output holds s, or the process ends without it.
func (b *syncBuffer) waitFor(c *child, s string) bool {
	for {
		b.mu.Lock()
		has, written := strings.Contains(b.buf.String(), s), b.written
		b.mu.Unlock()
		if has {
			return true
		}
		select {
		case <-written:
		case <-c.done:
			return strings.Contains(b.String(), s)
		}
	}
}

// guideArgs are the flags every run of the guide on the local stack takes.
func guideArgs(stack *localstack.Stack) []string {
	args := []string{"--var", "db_password=" + canaryPassword}
	for _, f := range stack.VarFiles() {
		args = append(args, "--var-file", f)
	}
	return args
}

// withEnv returns env with the given KEY=VALUE entries replacing or adding to it.
func withEnv(env []string, kvs ...string) []string {
	out := slices.Clone(env)
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		out = append(out, kv)
	}
	return out
}

// rootVault is a Vault client with the root token from the stack's keys file.
func rootVault(t *testing.T, stack *localstack.Stack) *vaultapi.Client {
	t.Helper()
	var keys struct {
		RootToken string `json:"root_token"`
	}
	raw, err := os.ReadFile(stack.KeysFile)
	if err != nil || json.Unmarshal(raw, &keys) != nil || keys.RootToken == "" {
		t.Fatalf("keys file: %v", err)
	}
	conf := vaultapi.DefaultConfig()
	conf.Address = stack.Vault.Addr
	c, err := vaultapi.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(keys.RootToken)
	return c
}

// nvrunTokens lists the accessors of the valid tokens whose metadata says nvrun minted
// them for addr, through the accessor list as nvrun itself does.
func nvrunTokens(t *testing.T, c *vaultapi.Client, addr string) []string {
	t.Helper()
	list, err := c.Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range list.Data["keys"].([]any) {
		sec, err := c.Auth().Token().LookupAccessor(k.(string))
		if err != nil {
			continue // expired since the LIST
		}
		if meta, _ := sec.Data["meta"].(map[string]any); meta["nvrun"] == "1" && meta["nvrun_address"] == addr {
			out = append(out, k.(string))
		}
	}
	return out
}

// accessorOf is the accessor of a token.
func accessorOf(t *testing.T, c *vaultapi.Client, token string) string {
	t.Helper()
	sec, err := c.Auth().Token().Lookup(token)
	if err != nil {
		t.Fatal(err)
	}
	return sec.Data["accessor"].(string)
}

// killingProxy forwards to Vault, and SIGKILLs the nvrun process once Vault has minted
// the first token through create-orphan (step 6), before nvrun gets the answer: the
// token exists, and nothing after it (step 7's agent config) ever happens.
type killingProxy struct {
	srv    *httptest.Server
	pid    atomic.Int64
	killed atomic.Bool
	mu     sync.Mutex
	minted string // the token nvrun never saw, for the leak check
}

func newKillingProxy(t *testing.T, target string) *killingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &killingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/v1/auth/token/create-orphan" || resp.StatusCode != 200 || p.killed.Swap(true) {
			return nil
		}
		var sec vaultapi.Secret
		body, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(body, &sec) == nil && sec.Auth != nil {
			p.mu.Lock()
			p.minted = sec.Auth.ClientToken
			p.mu.Unlock()
		}
		if err := syscall.Kill(int(p.pid.Load()), syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		return errors.New("nvrun was killed")
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

// TestStrayTokenAfterKill: nvrun SIGKILLed right after step 6 minted the Nomad server
// token, before step 7 wrote it into the agent config. The token is then valid and in
// use nowhere. The re-run's plan shows it, the re-run revokes it and mints one token,
// and the guide converges: exactly one valid token with nvrun's metadata for the address
// is left, the one in the agent config. The lock file the killed run held does not
// block the re-run.
func TestStrayTokenAfterKill(t *testing.T) {
	stack, err := localstack.Start("", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	kp := newKillingProxy(t, stack.Vault.Addr)
	args := guideArgs(stack)

	killed := startNvrun(t, withEnv(stack.Env(), "VAULT_ADDR="+kp.srv.URL), args...)
	kp.pid.Store(int64(killed.cmd.Process.Pid))
	if code := killed.wait(); !kp.killed.Load() || code != -1 {
		t.Fatalf("the first run was not killed at step 6 (exit %d)\n%s\n%s", code, killed.stdout, killed.stderr)
	}
	if ws, ok := killed.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the first run ended with %v, want SIGKILL", killed.cmd.ProcessState)
	}
	if !strings.Contains(killed.stdout.String(), "Step 6  Generate the token for the Nomad server") {
		t.Fatalf("the first run did not reach step 6:\n%s", killed.stdout)
	}
	lockFile := stack.KeysFile + ".lock"
	if _, err := os.Stat(lockFile); err != nil {
		t.Fatalf("the killed run left no lock file (%v): was the lock taken?", err)
	}
	vc := rootVault(t, stack)
	strays := nvrunTokens(t, vc, serverTokenAddr)
	if len(strays) != 1 {
		t.Fatalf("after the kill: %d tokens of %s, want the 1 minted", len(strays), serverTokenAddr)
	}
	if b, _ := os.ReadFile(stack.AgentConfig); tokenAttr.Match(b) {
		t.Fatal("the agent config got a token: the run was killed too late")
	}

	e := &e2e{t: t, stack: stack, proxies: map[string]*countingProxy{}}
	// The plan shows the stray as a delete, by a short accessor prefix only.
	res := e.run(append(slices.Clone(args), "--plan")...)
	stray := strays[0]
	wantLine := regexp.MustCompile(`(?m)^\s*-\s+` + regexp.QuoteMeta(serverTokenAddr) + `\s+left by an interrupted run \(accessor ` + stray[:8] + `…`)
	if res.code != 0 || !wantLine.MatchString(res.stdout) || strings.Contains(res.stdout, stray) {
		t.Fatalf("plan (exit %d) does not show the stray as %q, by its prefix only:\n%s\n%s", res.code, wantLine, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "1 to delete") {
		t.Fatalf("plan does not count the stray as a delete:\n%s", res.stdout)
	}

	// The re-run converges, taking over the lock file the killed run held.
	if res := e.run(args...); res.code != 0 {
		t.Fatalf("re-run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	left := nvrunTokens(t, vc, serverTokenAddr)
	if len(left) != 1 || left[0] == stray || left[0] != accessorOf(t, vc, e.serverToken()) {
		t.Fatalf("after the re-run: tokens %v (stray %s…), want exactly the one in the agent config", len(left), stray[:8])
	}
	e.checkTaskToken("nomad-cluster", "access-tables")
	e.checkNamesPage()
	if res := e.run(append(slices.Clone(args), "--detailed-exitcode")...); res.code != 0 {
		t.Fatalf("third run: exit %d, want 0 (no changes)\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if _, err := os.Stat(lockFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file is still there after the runs: %v", err)
	}
	kp.mu.Lock()
	minted := kp.minted
	kp.mu.Unlock()
	e.outputs = append(e.outputs, killed.stdout.String(), killed.stderr.String())
	e.checkNoSecretLeaked(minted)
}

// TestConcurrentApplies: two applies of the guide started at the same moment on one
// cluster, with each kind of lock. One applies; the other exits 1 before it reads or
// writes anything, naming the lock, its holder and since when; exactly one server
// token exists. Then, with the lock held (by the test), an apply with --lock-timeout
// waits, and once the lock is free converges with 0 changes; interrupted while it
// waits, it stops. No lock is left behind.
func TestConcurrentApplies(t *testing.T) {
	const consulKey = "nvrun/test/apply-lock"
	for _, kind := range []string{"file", "consul"} {
		t.Run(kind, func(t *testing.T) {
			stack, err := localstack.Start("", t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			defer stack.Close()
			args := guideArgs(stack)
			var lock runtime.Locker = &runtime.FileLock{Path: stack.KeysFile + ".lock"}
			if kind == "consul" {
				args = append(args, "--lock", "consul:"+consulKey)
				env := withEnv(stack.Env())
				lock, err = consul.NewLock(func(k string) string { return envMap(env)[k] }, consulKey)
				if err != nil {
					t.Fatal(err)
				}
			}

			// Two at the same moment, each through its own Vault proxy, to count what it sent.
			var runs [2]*child
			var vaults [2]*countingProxy
			for i := range runs {
				vaults[i] = newCountingProxy(t, stack.Vault.Addr)
			}
			for i := range runs {
				runs[i] = startNvrun(t, withEnv(stack.Env(), "VAULT_ADDR="+vaults[i].srv.URL), args...)
			}
			codes := [2]int{runs[0].wait(), runs[1].wait()}
			win, lose := 0, 1
			if codes[0] != 0 {
				win, lose = 1, 0
			}
			if codes[win] != 0 || codes[lose] != 1 {
				t.Fatalf("exit codes %v, want one 0 and one 1\n--- 0 ---\n%s%s\n--- 1 ---\n%s%s", codes,
					runs[0].stdout, runs[0].stderr, runs[1].stdout, runs[1].stderr)
			}
			msg := runs[lose].stderr.String()
			t.Logf("the loser said: %s", strings.TrimSpace(msg))
			for _, want := range []string{"another apply holds the " + lock.String(), fmt.Sprintf("(pid %d), since ", runs[win].cmd.Process.Pid), "nothing was applied"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the loser's message lacks %q:\n%s", want, msg)
				}
			}
			if n := len(vaults[lose].take()); n != 0 {
				t.Errorf("the loser sent %d requests to Vault, want 0", n)
			}
			vc := rootVault(t, stack)
			if toks := nvrunTokens(t, vc, serverTokenAddr); len(toks) != 1 {
				t.Fatalf("%d server tokens, want 1", len(toks))
			}
			e := &e2e{t: t, stack: stack}
			e.checkNamesPage()

			// The lock held elsewhere: --lock-timeout waits, then converges with 0 changes.
			ctx := context.Background()
			release, err := lock.Lock(ctx, runtime.LockHolder{Who: "test@here", PID: os.Getpid(), Since: time.Now().UTC()}, 0)
			if err != nil {
				t.Fatal(err)
			}
			waiting := startNvrun(t, stack.Env(), append(slices.Clone(args), "--lock-timeout", "10m", "--detailed-exitcode")...)
			if !waiting.stdout.waitFor(waiting, "Waiting up to 10m0s for the "+lock.String()+", held by test@here") {
				release(ctx)
				t.Fatalf("the second apply did not wait for the lock (exit %d):\n%s\n%s", waiting.wait(), waiting.stdout, waiting.stderr)
			}
			if err := release(ctx); err != nil {
				t.Fatal(err)
			}
			if code := waiting.wait(); code != 0 || !strings.Contains(waiting.stdout.String(), "Apply complete: 0 created, 0 updated, 0 deleted, 0 called") {
				t.Fatalf("after the wait: exit %d, want 0 changes\n%s\n%s", code, waiting.stdout, waiting.stderr)
			}

			// Ctrl-C while waiting: the wait stops, and nothing of the waiter's lock is left.
			release, err = lock.Lock(ctx, runtime.LockHolder{Who: "test@here", PID: os.Getpid(), Since: time.Now().UTC()}, 0)
			if err != nil {
				t.Fatal(err)
			}
			waiting = startNvrun(t, stack.Env(), append(slices.Clone(args), "--lock-timeout", "10m")...)
			if !waiting.stdout.waitFor(waiting, "Waiting up to 10m0s") {
				release(ctx)
				t.Fatalf("the apply did not wait for the lock (exit %d):\n%s\n%s", waiting.wait(), waiting.stdout, waiting.stderr)
			}
			if err := waiting.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			code := waiting.wait()
			if err := release(ctx); err != nil {
				t.Fatal(err)
			}
			if code == 0 || !strings.Contains(waiting.stderr.String(), "stopped while waiting for the "+lock.String()) {
				t.Fatalf("interrupted wait: exit %d\n%s", code, waiting.stderr)
			}

			if kind == "consul" {
				checkConsulLockFree(t, stack.Consul.HTTPAddr, consulKey)
			} else if _, err := os.Stat(stack.KeysFile + ".lock"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the lock file is still there: %v", err)
			}
		})
	}
}

// checkConsulLockFree: the lock key has no session, and no lock session is left.
func checkConsulLockFree(t *testing.T, addr, key string) {
	t.Helper()
	c, err := consulapi.NewClient(&consulapi.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	pair, _, err := c.KV().Get(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pair == nil || pair.Session != "" {
		t.Errorf("lock key %s: %+v, want it released (no session)", key, pair)
	}
	sessions, _, err := c.Session().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if strings.HasPrefix(s.Name, "nvrun") {
			t.Errorf("session %q (%s) is left after the runs", s.Name, s.ID)
		}
	}
}
