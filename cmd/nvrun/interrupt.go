package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/nvrun/nvrun/runtime"
)

// interruption is the cause of the run's context when a signal stopped it.
type interruption struct{ sig syscall.Signal }

func (i interruption) Error() string { return "interrupted (" + signalName(i.sig) + ")" }

// Is keeps errors.Is(err, context.Canceled) true for errors that carry the cause.
func (i interruption) Is(target error) bool { return target == context.Canceled }

// runTimeout is the cause of the run's context when --timeout ended it.
type runTimeout struct{ d time.Duration }

func (t runTimeout) Error() string { return "timed out (--timeout " + t.d.String() + ")" }

func (t runTimeout) Is(target error) bool { return target == context.DeadlineExceeded }

// exitCode is what shells expect of a process a signal stopped: 128 + the signal.
func (i interruption) exitCode() int { return 128 + int(i.sig) }

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// interruptContext is cancelled, with an interruption as its cause, by the first of
// sigs (SIGINT, SIGTERM) that notify (signal.Notify) delivers: the run stops at the next
// cancellation point and its end-of-run cleanup still runs. A second signal stops nvrun
// at once, without cleanup, as a second Ctrl-C does in terraform.
func interruptContext(stderr io.Writer, notify func(chan<- os.Signal, ...os.Signal), sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	notify(ch, sigs...)
	go func() {
		first, ok := (<-ch).(syscall.Signal)
		if !ok {
			first = syscall.SIGINT
		}
		fmt.Fprintf(stderr, "\nnvrun: %s: stopping after the current operation and running the end-of-run cleanup (again to stop at once)\n", signalName(first))
		cancel(interruption{first})
		second, ok := (<-ch).(syscall.Signal)
		if !ok {
			second = first
		}
		fmt.Fprintf(stderr, "nvrun: %s again: stopping now, without cleanup\n", signalName(second))
		os.Exit(128 + int(second))
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// reportStopped explains a run that a signal or --timeout stopped: where it stopped,
// what was done and what was not, and that a re-run converges. It returns the exit
// code: 128+signal for a signal (130 for SIGINT), 1 for a timeout.
func reportStopped(w io.Writer, ctx context.Context, err error, res *runtime.Result) int {
	cause := context.Cause(ctx)
	why, code := cause.Error(), exitError
	var in interruption
	if errors.As(cause, &in) {
		code = in.exitCode()
	}
	var pre *runtime.PreflightError
	if res == nil || errors.As(err, &pre) {
		// Say what it was doing (the preflight, waiting for the apply lock, ...).
		fmt.Fprintf(w, "Error: %s before anything was applied: %s\n", why, whereStopped(err.Error()))
		return code
	}
	if res.Mode == runtime.Plan {
		fmt.Fprintf(w, "Error: %s: the plan is incomplete (a plan changes nothing).\n", why)
		return code
	}

	step := len(res.Steps)
	var stopped *runtime.Record
	applied, unchanged := 0, 0
	for _, r := range res.Records {
		switch {
		case r.Status == "failed":
			stopped, step = r, r.Step
		case r.Status == "applied" && r.Action.IsChange():
			applied++
		case r.Status == "unchanged":
			unchanged++
		}
	}
	where := "before the first step"
	if step > 0 {
		where = fmt.Sprintf("during step %d (%s)", step, res.Steps[step-1].Title)
	}
	fmt.Fprintf(w, "Error: %s %s.\n", why, where)
	done := ""
	switch {
	case step == 2:
		done = "step 1; "
	case step > 2:
		done = fmt.Sprintf("steps 1-%d; ", step-1)
	}
	fmt.Fprintf(w, "  done:     %s%s applied, %d unchanged\n", done, plural(applied, "change"), unchanged)
	if stopped != nil {
		fmt.Fprintf(w, "  not done: %s (%s): %s\n", stopped.Address, stopped.Position, firstLine(stopped.Error))
	} else {
		fmt.Fprintf(w, "  not done: %s\n", whereStopped(err.Error()))
	}
	if step > 0 {
		fmt.Fprintf(w, "            nothing after step %d ran\n", step)
	}
	fmt.Fprintln(w, "The end-of-run cleanup ran. Re-run the same command to converge: every builtin reads live state and changes only what differs.")
	return code
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// firstLine keeps an error to its first line (a wait's error goes on with the
// allocations' events, which the progress output already showed).
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// backtraceFrame is a frame line of a Starlark backtrace: "  scripts/x.star:3:9: in f".
var backtraceFrame = regexp.MustCompile(`^\s+(\S+:\d+:\d+): in `)

// whereStopped turns a script error (a Starlark backtrace, when a builtin failed before
// it recorded anything) into "vault.policy: <its error> (scripts/guide.star:196:13)".
func whereStopped(msg string) string {
	pos, text, plain := "", "", ""
	for _, l := range strings.Split(msg, "\n") {
		if m := backtraceFrame.FindStringSubmatch(l); m != nil {
			pos = m[1]
		} else if t, ok := strings.CutPrefix(l, "Error in "); ok && text == "" {
			text = t
		} else if t, ok := strings.CutPrefix(l, "Error: "); ok && plain == "" && !strings.HasPrefix(t, "Traceback") {
			plain = t
		}
	}
	if text == "" {
		text = plain
	}
	if text == "" {
		return firstLine(msg)
	}
	if pos != "" {
		return text + " (" + pos + ")"
	}
	return text
}
