package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// Run is one execution of a script, in one mode. Nothing is shared between runs: the
// apply preflight is a Run of its own.
type Run struct {
	ctx     context.Context
	opts    Options
	mode    Mode
	offline bool
	destroy bool // see destroy.go

	redactor *Redactor
	out      io.Writer // redacted
	env      func(string) string

	thread  *starlark.Thread
	loader  *loader
	globals starlark.StringDict

	vars    *varSet
	steps   []Step
	stepNo  int
	records []*Record

	warnings   []string
	warned     map[string]bool
	incomplete bool
	services   map[string]any
	servers    map[string]*Server
	progress   *progress
	deferred   []deferred
	// keep is keep=True of the builtin being called; converged counts its Converges.
	keep      bool
	converged int
	// guarded are the addresses whose first apply read --apply-plan has checked.
	guarded map[string]bool
	// ahead queues a live plan's reads ahead (readahead.go); nil when it reads none.
	ahead *readAhead
}

type deferred struct {
	what string
	fn   func(ctx context.Context) error
}

// Step is a numbered group of records opened by step().
type Step struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
	Pos    string `json:"position"`
}

// Result is what a run recorded.
type Result struct {
	Mode       Mode
	Offline    bool
	Script     string
	Steps      []Step
	Records    []*Record
	Warnings   []string
	Incomplete bool
	Vars       []VarInfo
	VarDigests map[string]string // see Options.VarSalt
	// Loaded is the SHA-256 of every file the script loaded, by display name.
	Loaded  map[string]string
	Destroy bool // a destroy run: its deletes are shown and applied last first
}

// Changes says whether any record is a change (for --detailed-exitcode).
func (res *Result) Changes() bool {
	for _, r := range res.Records {
		if r.Action.IsChange() && r.Status != "unchanged" {
			return true
		}
	}
	return false
}

// Exec runs a script. In apply mode it first runs the whole script as an offline plan,
// so that a script that cannot even plan writes nothing. The redactor is shared by the
// caller so that everything it prints (errors included) is scrubbed too.
func Exec(ctx context.Context, opts Options, red *Redactor) (*Result, error) {
	if opts.Mode == Apply && !opts.SkipPreflight {
		pre := opts
		pre.Mode, pre.Offline, pre.Out = Plan, true, io.Discard
		if _, err := runOnce(ctx, pre, red); err != nil {
			return nil, &PreflightError{Err: err}
		}
	}
	if opts.Mode == Apply && opts.Lock != nil {
		// Before the first read of live state, not just the first write: what an apply
		// reads decides what it writes (a token to reuse, a stray to revoke).
		out := red.Writer(orDiscard(opts.Out))
		release, err := takeLock(ctx, opts, out)
		if err != nil {
			return nil, err
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := release(rctx); err != nil {
				fmt.Fprintf(out, "Warning: %v\n", err)
			}
		}()
	}
	if opts.Mode == Apply && opts.SavedPlan != nil {
		if err := checkSavedPlan(ctx, opts, red); err != nil {
			return nil, err
		}
	}
	return runOnce(ctx, opts, red)
}

// checkSavedPlan re-reads every resource (a live plan: it writes nothing) under the lock,
// and refuses unless it sees what the saved plan saw.
func checkSavedPlan(ctx context.Context, opts Options, red *Redactor) error {
	sp := opts.SavedPlan
	if err := sp.CheckScript(); err != nil {
		return err
	}
	live := opts
	live.Mode, live.Offline, live.Out, live.VarSalt = Plan, false, io.Discard, sp.Salt
	res, err := runOnce(ctx, live, red)
	if res != nil {
		// A changed var is the likelier cause of a failed re-read (a wrong password):
		// say so first.
		if verr := sp.checkVars(res); verr != nil {
			return verr
		}
	}
	if err != nil {
		return fmt.Errorf("re-reading the plan's resources: %w", err)
	}
	return sp.checkFresh(res, red)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// PreflightError is a failure of the offline plan that runs before an apply: nothing
// was written.
type PreflightError struct{ Err error }

func (e *PreflightError) Error() string { return e.Err.Error() }
func (e *PreflightError) Unwrap() error { return e.Err }

func runOnce(ctx context.Context, opts Options, red *Redactor) (*Result, error) {
	r, err := newRun(ctx, opts, red)
	if err != nil {
		return nil, err
	}
	err = r.exec()
	if err == nil {
		err = r.vars.checkUnused()
	}
	res := r.result()
	return res, err
}

func newRun(ctx context.Context, opts Options, red *Redactor) (*Run, error) {
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.MaxSteps == 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	abs, err := filepath.Abs(opts.Script)
	if err != nil {
		return nil, fmt.Errorf("script %s: %w", opts.Script, err)
	}
	r := &Run{
		ctx:      ctx,
		opts:     opts,
		mode:     opts.Mode,
		offline:  opts.Offline,
		destroy:  opts.Destroy,
		redactor: red,
		out:      red.Writer(opts.Out),
		env:      envLookup(opts.Environ),
		warned:   map[string]bool{},
		services: map[string]any{},
		servers:  map[string]*Server{},
		ahead:    newReadAhead(ctx, opts),
	}
	r.progress = &progress{run: r, color: opts.Color, interactive: opts.Interactive}
	r.vars, err = newVarSet(r, opts)
	if err != nil {
		return nil, err
	}
	r.loader = newLoader(r, opts.Script, abs, opts.Stdlib)
	r.thread = &starlark.Thread{
		Name: "nvrun",
		Print: func(_ *starlark.Thread, msg string) {
			// What the script printed follows the records made before it, and is not
			// printed at all if one of them failed.
			if r.settleQuietly(); !r.failedAhead() {
				fmt.Fprintln(r.out, msg)
			}
		},
		Load: r.loader.load,
	}
	r.thread.SetMaxExecutionSteps(opts.MaxSteps)
	r.thread.OnMaxSteps = func(th *starlark.Thread) {
		th.Cancel(fmt.Sprintf("script exceeded %d execution steps (a runaway loop?)", opts.MaxSteps))
	}
	r.globals = starlark.StringDict{
		"var":    starlark.NewBuiltin("var", r.vars.builtin),
		"step":   starlark.NewBuiltin("step", r.stepBuiltin),
		"fail":   r.settling(starlark.Universe["fail"].(*starlark.Builtin)),
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
		"json":   json.Module,
		"time":   startime.Module,
		"math":   math.Module,
	}
	for _, m := range opts.Modules {
		if _, dup := r.globals[m.Name]; dup {
			return nil, fmt.Errorf("module %q registered twice or shadows a builtin", m.Name)
		}
		v, err := m.New(r)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m.Name, err)
		}
		r.globals[m.Name] = guard(r.withKeep(r.settlingAll(v)))
	}
	return r, nil
}

// fileOptions allow what configuration scripts need (top-level if/for, while, sets)
// while keeping Starlark's hermeticity.
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}

func (r *Run) exec() error {
	stop := context.AfterFunc(r.ctx, func() {
		reason := "interrupted"
		if errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
			reason = "timed out (--timeout)"
		}
		r.thread.Cancel(reason)
	})
	defer stop()
	_, err := r.execMain()
	err = r.endAhead(err)
	if err == nil && r.destroy && r.mode == Apply {
		if err = r.applyDeletes(); err != nil {
			r.runDeferred()
			r.progress.finish()
			return err
		}
	}
	r.runDeferred()
	r.progress.finish()
	if err != nil {
		return r.scriptError(err)
	}
	return nil
}

// Defer registers cleanup to run when the script ends, successfully or not, in reverse
// order (e.g. revoking the lease of credentials read only to check them). It runs even
// when the run was cancelled, with a short fresh deadline. A failure becomes a warning.
func (r *Run) Defer(what string, fn func(ctx context.Context) error) {
	r.deferred = append(r.deferred, deferred{what: what, fn: fn})
}

func (r *Run) runDeferred() {
	for i := len(r.deferred) - 1; i >= 0; i-- {
		d := r.deferred[i]
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		err := d.fn(ctx)
		cancel()
		if err != nil {
			r.Warn("cleanup %s failed: %v", d.what, err)
		} else if r.mode == Apply {
			fmt.Fprintf(r.out, "  cleanup: %s\n", d.what)
		}
	}
	r.deferred = nil
}

// Warn records a warning once; it is shown with the plan or the apply summary.
func (r *Run) Warn(format string, args ...any) {
	if r.settleQuietly(); r.failedAhead() {
		return // the run failed before this warning: a sequential run never got here
	}
	r.warn(format, args...)
}

func (r *Run) warn(format string, args ...any) {
	msg := r.redactor.Redact(fmt.Sprintf(format, args...))
	if r.warned[msg] {
		return
	}
	r.warned[msg] = true
	r.warnings = append(r.warnings, msg)
	if r.mode == Apply {
		fmt.Fprintf(r.out, "Warning: %s\n", msg)
	}
}

func (r *Run) branchedOnUnknown(u *Unknown) {
	if r.destroy {
		// Every skipped read is Unknown in a destroy: a warning each would be noise.
		// (A resource declared only on a branch the script did not take is not undone:
		// README "Destroy".)
		return
	}
	r.incomplete = true
	r.Warn("%s: the script branches on a value known only after apply (%s%s, from %s); this plan cannot say which way it goes and may be incomplete",
		callerPos(r.thread), u.origin, u.path, u.pos)
}

// Env reads an environment variable through the run's environment (tests override it).
func (r *Run) Env(key string) string { return r.env(key) }

// Redactor is the run's redactor, for builtins that must scrub server text themselves.
func (r *Run) Redactor() *Redactor { return r.redactor }

// Out is the run's (redacted) output stream, for builtins' own progress lines.
func (r *Run) Out() io.Writer { return r.out }

// Provide and Lookup let two builtin modules cooperate without importing each other:
// one provides a value under a name, the other looks it up and asserts the small
// interface it needs (Go interfaces are structural, so neither names the other).
func (r *Run) Provide(name string, v any) { r.services[name] = v }
func (r *Run) Lookup(name string) any     { return r.services[name] }

func (r *Run) result() *Result {
	res := &Result{
		Mode:       r.mode,
		Offline:    r.offline,
		Script:     r.loader.prefix + filepath.Base(r.loader.main),
		Steps:      append([]Step(nil), r.steps...),
		Records:    r.records,
		Warnings:   r.warnings,
		Incomplete: r.incomplete,
		Vars:       r.vars.info(),
		VarDigests: r.vars.digests,
		Loaded:     r.loader.digests,
		Destroy:    r.destroy,
	}
	sort.SliceStable(res.Vars, func(i, j int) bool { return res.Vars[i].Order < res.Vars[j].Order })
	return res
}

func envLookup(environ []string) func(string) string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}
