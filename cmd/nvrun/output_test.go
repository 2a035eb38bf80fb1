package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// A failed write on stdout (a full disk, a closed pipe) is an error: the user did not
// get the plan or the record, so nvrun must not exit 0 (nor 2, "changes").
func TestStdoutWriteErrorsExitNonZero(t *testing.T) {
	outputs := []struct {
		name string
		open func(t *testing.T) *os.File
		want string
	}{
		{"full disk", func(t *testing.T) *os.File {
			f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Fatalf("this test needs /dev/full: %v", err)
			}
			return f
		}, "no space left on device"},
		{"closed pipe", func(t *testing.T) *os.File {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			return w
		}, "broken pipe"},
	}
	script := writeScript(t, "v = var('v', 'x')\nstep('s')\nprobe.put('a', v)\nprint('printed')\n")
	runs := [][]string{
		{"--plan"},
		{"--plan", "--detailed-exitcode"},
		{"--plan", "--json"},
		{"--vars"},
		{},                      // apply: progress and summary on stdout
		{"--detailed-exitcode"}, // apply again: nothing to change, still an error
	}
	for _, o := range outputs {
		srv := runtimetest.NewServer()
		for _, args := range runs {
			t.Run(o.name+" "+strings.Join(args, " "), func(t *testing.T) {
				out := o.open(t)
				defer out.Close()
				var errb bytes.Buffer
				code := Main(context.Background(), append(args, script), []string{}, out, &errb, []runtime.Module{runtimetest.Module(srv)})
				if code != 1 {
					t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
				}
				if !strings.Contains(errb.String(), "nvrun: writing to stdout: ") || !strings.Contains(errb.String(), o.want) {
					t.Fatalf("stderr should say the output was lost (%s):\n%s", o.want, errb.String())
				}
			})
		}
	}
}

// The real command, with stdout a pipe whose reader is gone (`nvrun --plan x | head -0`):
// Go would kill it with SIGPIPE before any cleanup; it must exit 1 with a message.
func TestClosedStdoutPipeInTheRealCommand(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	script := writeScript(t, "step('s')\nprint('printed')\n")
	var errb bytes.Buffer
	cmd := exec.Command(os.Args[0], "--plan", script)
	cmd.Env = []string{asCLIEnv + "=1"}
	cmd.Stdout, cmd.Stderr = w, &errb
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v (a signal shows as exit -1)\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "nvrun: writing to stdout: ") || !strings.Contains(errb.String(), "broken pipe") {
		t.Fatalf("stderr:\n%s", errb.String())
	}
}
