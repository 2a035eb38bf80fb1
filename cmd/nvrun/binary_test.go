package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/localstack"
)

// buildNvrun builds the real nvrun binary, for tests that must signal the process
// itself (SIGKILL, SIGINT): Main in-process cannot be killed.
func buildNvrun(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nvrun")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nvrun")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/nvrun: %v\n%s", err, out)
	}
	return bin
}

// liveRun is an nvrun process running the guide, whose output is read line by line.
type liveRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder // stdout and stderr, interleaved as printed
	seen chan string     // stdout lines, as they come
	done chan struct{}   // closed when the process has exited and its output is read
	code int
}

// startGuide starts the binary on the guide against stack, with extra args.
func startGuide(t *testing.T, bin string, stack *localstack.Stack, env []string, args ...string) *liveRun {
	t.Helper()
	for _, f := range stack.VarFiles() {
		args = append(args, "--var-file", f)
	}
	cmd := exec.Command(bin, append(args, "--no-color", "scripts/guide.star")...)
	cmd.Env = append(stack.Env(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &liveRun{t: t, cmd: cmd, seen: make(chan string, 1000), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.add(sc.Text())
			select {
			case r.seen <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		defer wg.Done()
		b, _ := io.ReadAll(stderr)
		r.add(string(b))
	}()
	go func() {
		wg.Wait()
		_ = cmd.Wait()
		r.code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal())
		}
		close(r.seen)
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

func (r *liveRun) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.WriteString(s)
	r.out.WriteString("\n")
}

// output is everything printed so far.
func (r *liveRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitLine waits for a stdout line containing want, and fails if the process ends
// first. No timed assertion: the test's own deadline bounds it.
func (r *liveRun) waitLine(want string) {
	r.t.Helper()
	for line := range r.seen {
		if strings.Contains(line, want) {
			return
		}
	}
	r.t.Fatalf("nvrun exited (%d) before printing %q:\n%s", r.wait(), want, r.output())
}

// signal sends sig to the process.
func (r *liveRun) signal(sig os.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code (128+N for signal N).
func (r *liveRun) wait() int {
	go func() {
		for range r.seen { // keep draining
		}
	}()
	<-r.done
	return r.code
}

// waitTimeout is wait with a generous bound, so a hung process fails the test with its
// output rather than hanging it.
func (r *liveRun) waitTimeout(d time.Duration) int {
	r.t.Helper()
	go func() {
		for range r.seen {
		}
	}()
	select {
	case <-r.done:
		return r.code
	case <-time.After(d):
		r.t.Fatalf("nvrun did not exit within %s:\n%s", d, r.output())
		return -1
	}
}
