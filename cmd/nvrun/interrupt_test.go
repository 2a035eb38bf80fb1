package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/localstack"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// The progress lines of the waits of step 8 (database job) and step 14 (web job).
const (
	dbWait  = `waiting for nomad job "postgres-nomad-demo"`
	webWait = `waiting for nomad job "nomad-vault-demo"`
)

// gated makes a task wait for a gate file before it runs its real command, so a test
// decides when a job can become healthy and interrupts a wait without racing it. It
// returns the --var that sets the task's config, and the function that opens the gate.
func gated(t *testing.T, stack *localstack.Stack, varName, name string, command []string) (arg string, open func()) {
	t.Helper()
	gate := filepath.Join(stack.Dir, name+"-gate")
	quoted := make([]string, len(command))
	for i, c := range command {
		quoted[i] = "'" + c + "'"
	}
	cfg, _ := json.Marshal(map[string]any{
		"command": "/bin/sh",
		"args":    []string{"-c", "while [ ! -e '" + gate + "' ]; do sleep 0.2; done; exec " + strings.Join(quoted, " ")},
	})
	return varName + "=" + string(cfg), func() {
		t.Helper()
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var revokeLine = regexp.MustCompile(`cleanup: revoke lease (\S+)`)

// TestGuideInterrupted stops the guide twice in its waits, with the two signals a user
// sends, and checks that each time a plain re-run converges:
//
//  1. SIGKILL while step 8 waits for the database job: no cleanup, no message. The
//     re-run finds the job registered as asked but not healthy, and must wait for it
//     rather than pass it as "unchanged" (then fail at step 10, PostgreSQL not up).
//  2. SIGINT while step 14 waits for the web job: the run stops, revokes step 12's
//     lease (the end-of-run cleanup), says what was done and what was not, and exits
//     with 130. The re-run waits for the web job and converges to the /names page.
func TestGuideInterrupted(t *testing.T) {
	start := time.Now()
	stack, err := localstack.Start("", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	bin := buildNvrun(t)
	dbVar, openDB := gated(t, stack, "db_task_config", "db", []string{"/bin/sh", filepath.Join(stack.Dir, "bin", "postgres-task.sh")})
	webVar, openWeb := gated(t, stack, "web_task_config", "web", []string{filepath.Join(stack.Dir, "bin", "webapp")})
	args := []string{"--var", dbVar, "--var", webVar}

	// 1. SIGKILL during step 8's wait.
	run := startGuide(t, bin, stack, nil, args...)
	run.waitLine(dbWait)
	run.signal(syscall.SIGKILL)
	if code := run.wait(); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("killed nvrun exited %d:\n%s", code, run.output())
	}
	if n := stack.Nomad.Registrations("postgres-nomad-demo"); n != 1 {
		t.Fatalf("the database job was registered %d times before the kill, want 1", n)
	}

	// The re-run must stop at step 8 and wait (it fails here if it goes on, or ends,
	// without waiting); then PostgreSQL may start.
	run = startGuide(t, bin, stack, nil, args...)
	run.waitLine(dbWait)
	openDB()

	// 2. SIGINT during step 14's wait.
	run.waitLine(webWait)
	run.signal(syscall.SIGINT)
	code := run.waitTimeout(3 * time.Minute)
	out := run.output()
	if code != 130 {
		t.Fatalf("nvrun after SIGINT exited %d, want 130:\n%s", code, out)
	}
	if n := stack.Nomad.Registrations("postgres-nomad-demo"); n != 1 {
		t.Errorf("the re-run registered the unchanged database job again (%d registrations)", n)
	}
	for _, want := range []string{
		"interrupted (SIGINT) during step 14 (Deploy your job with the appropriate policy and templating)",
		"done:     steps 1-13;",
		`not done: nomad job "nomad-vault-demo" (scripts/guide.star:`,
		`registered as version 0, not healthy: waiting for`,
		"nothing after step 14 ran",
		"Re-run the same command to converge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the interrupted run does not say %q:\n%s", want, out)
		}
	}
	m := revokeLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the interrupted run did not revoke step 12's lease:\n%s", out)
	}
	if leaseExists(t, stack, m[1]) {
		t.Errorf("lease %s is still in Vault after the interrupted run's cleanup", m[1])
	}

	// The re-run waits for the web job as registered, and converges.
	run = startGuide(t, bin, stack, nil, args...)
	run.waitLine(webWait)
	openWeb()
	if code := run.wait(); code != 0 {
		t.Fatalf("re-run after SIGINT: exit %d\n%s", code, run.output())
	}
	for job, want := range map[string]int{"postgres-nomad-demo": 1, "nomad-vault-demo": 1} {
		if n := stack.Nomad.Registrations(job); n != want {
			t.Errorf("%s registered %d times, want %d", job, n, want)
		}
	}
	e := &e2e{t: t, stack: stack}
	e.checkNamesPage()
	e.checkDynamicCredentials()
	t.Logf("wall time: %s", time.Since(start).Round(100*time.Millisecond))
}

// leaseExists asks Vault, with the root token from the keys file, whether a lease is
// still there.
func leaseExists(t *testing.T, stack *localstack.Stack, id string) bool {
	t.Helper()
	var keys struct {
		RootToken string `json:"root_token"`
	}
	raw, err := os.ReadFile(stack.KeysFile)
	if err != nil || json.Unmarshal(raw, &keys) != nil || keys.RootToken == "" {
		t.Fatalf("keys file unreadable: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"lease_id": id})
	req, _ := http.NewRequest(http.MethodPut, stack.Vault.Addr+"/v1/sys/leases/lookup", bytes.NewReader(body))
	req.Header.Set("X-Vault-Token", keys.RootToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusBadRequest: // "invalid lease"
		return false
	}
	t.Fatalf("lease lookup: HTTP %d", resp.StatusCode)
	return false
}

func TestWhereStopped(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Traceback (most recent call last):\n  scripts/guide.star:82:13: in <toplevel>\nError in vault.policy: step 4 (x): boom\n",
			"vault.policy: step 4 (x): boom (scripts/guide.star:82:13)"},
		// The innermost frame (the last) is where the builtin was called.
		{"Error: Traceback (most recent call last):\n  main.star:1:2: in <toplevel>\n  lib/a.star:3:9: in f\nError in http.get: no\n",
			"http.get: no (lib/a.star:3:9)"},
		{"main.star:1:1: Starlark computation cancelled: interrupted", "main.star:1:1: Starlark computation cancelled: interrupted"},
		{"Error: x\nmore", "x"},
	}
	for _, c := range cases {
		if got := whereStopped(c.in); got != c.want {
			t.Errorf("whereStopped(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A run stopped by a signal exits 128+signal as shells expect (130 for Ctrl-C), one
// stopped by --timeout exits 1 like any error; both say so.
func TestStoppedRunExitCodes(t *testing.T) {
	script := writeScript(t, "step('s')\nprobe.put('a', '1')\n")
	stopped := func(sig syscall.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(interruption{sig})
		return ctx
	}
	cases := []struct {
		name string
		ctx  context.Context
		args []string
		code int
		want string
	}{
		// The run stops in the preflight or at the first change, whichever sees the
		// cancellation first (a cancelled thread is noticed asynchronously).
		{"SIGINT", stopped(syscall.SIGINT), nil, 130, "Error: interrupted (SIGINT) "},
		{"SIGTERM", stopped(syscall.SIGTERM), nil, 143, "Error: interrupted (SIGTERM) "},
		{"--timeout", context.Background(), []string{"--timeout", "1ns"}, 1, "Error: timed out (--timeout 1ns) "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := runtimetest.NewServer()
			var out, errb bytes.Buffer
			code := Main(c.ctx, append(c.args, script), []string{}, &out, &errb, []runtime.Module{runtimetest.Module(srv)})
			if code != c.code || !strings.Contains(errb.String(), c.want) {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant %q", code, c.code, errb.String(), c.want)
			}
			if srv.Writes() != 0 {
				t.Errorf("%d writes", srv.Writes())
			}
		})
	}
}

// The first signal cancels the run's context with the signal as its cause (whose exit
// code is 128+signal) and says what happens next.
func TestInterruptContext(t *testing.T) {
	var ch chan<- os.Signal
	notify := func(c chan<- os.Signal, _ ...os.Signal) { ch = c }
	var stderr bytes.Buffer
	ctx, stop := interruptContext(&stderr, notify, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if ctx.Err() != nil {
		t.Fatal("cancelled before any signal")
	}
	ch <- syscall.SIGTERM
	<-ctx.Done()
	var in interruption
	if !errors.As(context.Cause(ctx), &in) || in.exitCode() != 143 || !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Fatalf("cause %v, want SIGTERM (exit 143) that is a context.Canceled", context.Cause(ctx))
	}
	if !strings.Contains(stderr.String(), "SIGTERM: stopping after the current operation and running the end-of-run cleanup") {
		t.Fatalf("stderr: %q", stderr.String())
	}
}
