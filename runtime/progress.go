package runtime

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.starlark.net/starlark"
)

// progress prints apply progress: a header per step and a line per change as it
// finishes. Plan mode prints nothing here; the plan is rendered from the records.
type progress struct {
	run         *Run
	color       bool
	interactive bool
	spinning    bool
}

func (p *progress) active() bool { return p.run.mode == Apply }

func (p *progress) step(s Step) {
	if !p.active() {
		return
	}
	p.clearSpinner()
	fmt.Fprintf(p.run.out, "%s\n", p.paint(bold, fmt.Sprintf("Step %d  %s", s.Number, s.Title)))
}

// progressLine prints one line per change, 4,000 of them in an apply of 4,000
// resources: built by concatenation, written with one call.
func (p *progress) progressLine(rec *Record, verb string) {
	line := "  " + rec.Action.Symbol() + " " + rec.Address
	if rec.Summary != "" {
		line += "  " + rec.Summary
	}
	line += ": " + verb
	if rec.DurationMS != nil {
		line += " (" + (time.Duration(*rec.DurationMS) * time.Millisecond).String() + ")"
	}
	io.WriteString(p.run.out, p.paint(actionColor(rec), line)+"\n")
}

func (r *Run) progressRecord(rec *Record) {
	if r.progress.active() {
		r.progress.clearSpinner()
		r.progress.progressLine(rec, "unchanged")
	}
}

func (r *Run) progressDone(rec *Record) {
	if !r.progress.active() {
		return
	}
	r.progress.clearSpinner()
	var verb string
	switch rec.Status {
	case "applied":
		verb = "done"
	case "read":
		verb = "read"
	case "failed":
		verb = "FAILED: " + rec.Error
	}
	r.progress.progressLine(rec, verb)
}

func (p *progress) finish() { p.clearSpinner() }

func (p *progress) clearSpinner() {
	if p.spinning {
		fmt.Fprint(p.run.out, "\r\033[K")
		p.spinning = false
	}
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// WaitSpec describes a wait for some condition to hold.
type WaitSpec struct {
	What     string        // "nomad job \"web\" healthy"
	Timeout  time.Duration // 0 means until the run's context ends
	Interval time.Duration // between polls; default 500ms
	// Poll reports whether the condition holds, a one-line status for the progress
	// display, and a fatal error (which stops the wait at once).
	Poll func(ctx context.Context) (done bool, status string, err error)
}

// WaitTimeout is how long a Wait with this timeout (0: none) really waits: the same,
// unless Options.MaxWait caps it.
func (r *Run) WaitTimeout(timeout time.Duration) time.Duration {
	if m := r.opts.MaxWait; m > 0 && (timeout == 0 || timeout > m) {
		return m
	}
	return timeout
}

// Wait polls until the condition holds, showing progress: a spinner with the latest
// status in a terminal, or a plain line whenever the status changes otherwise. On
// timeout the error carries the last status, which should say what is still wrong.
func (r *Run) Wait(thread *starlark.Thread, w WaitSpec) error {
	if err := r.settle(); err != nil {
		return err
	}
	if w.Interval == 0 {
		w.Interval = 500 * time.Millisecond
	}
	capped := ""
	if t := r.WaitTimeout(w.Timeout); t != w.Timeout {
		w.Timeout, w.Interval = t, min(w.Interval, t/50)
		capped = fmt.Sprintf(" (waits are capped at %s here)", t)
	}
	ctx := r.ctx
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	p := r.progress
	start := time.Now()
	last, frame := "", 0
	for {
		done, status, err := w.Poll(ctx)
		if err != nil {
			p.clearSpinner()
			// A poll cut off by the wait's own deadline (a blocking query in flight) is the
			// timeout, not a server fault: report what was last seen, which says why.
			if w.Timeout > 0 && ctx.Err() != nil && r.ctx.Err() == nil {
				return fmt.Errorf("timed out after %s%s waiting for %s: %s", w.Timeout, capped, w.What, last)
			}
			return err
		}
		if done {
			p.clearSpinner()
			return nil
		}
		switch {
		case p.interactive:
			fmt.Fprintf(r.out, "\r\033[K  %s waiting for %s (%s): %s", spinnerFrames[frame%len(spinnerFrames)], w.What,
				time.Since(start).Round(time.Second), status)
			p.spinning = true
			frame++
		case status != last:
			fmt.Fprintf(r.out, "  … waiting for %s: %s\n", w.What, status)
		}
		last = status
		select {
		case <-ctx.Done():
			p.clearSpinner()
			if r.ctx.Err() != nil {
				// The cause says why: "interrupted (SIGINT)", "timed out (--timeout 5s)".
				return fmt.Errorf("waiting for %s: %w", w.What, context.Cause(r.ctx))
			}
			return fmt.Errorf("timed out after %s%s waiting for %s: %s", w.Timeout, capped, w.What, status)
		case <-time.After(w.Interval):
		}
	}
}

const (
	bold   = "1"
	green  = "32"
	yellow = "33"
	red    = "31"
	cyan   = "36"
	dim    = "2"
)

func (p *progress) paint(code, s string) string {
	if !p.color || code == "" {
		return s
	}
	return "\033[" + code + "m" + s + "\033[0m"
}

func actionColor(rec *Record) string {
	if rec.Status == "failed" {
		return red
	}
	switch rec.Action {
	case Create:
		return green
	case Update, Call:
		return yellow
	case Delete:
		return red
	case Read:
		return cyan
	}
	return dim
}
