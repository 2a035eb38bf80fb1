package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/stdlib"
)

var errHelp = errors.New("help requested")

// Exit codes, as terraform's --detailed-exitcode users expect (README "Exit codes").
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2 // without --detailed-exitcode only: with it, 2 means changes
	exitChanges = 2
)

// usageExit is the exit code of a usage error: 2, except under --detailed-exitcode
// where 2 means "changes", so that any error exits 1 there, as terraform's do. It reads
// args itself, as a usage error may be one the flag parser could not get past.
func usageExit(args []string) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		v, ok := strings.CutPrefix(a, "--detailed-exitcode")
		if !ok {
			continue
		}
		if on, err := strconv.ParseBool(strings.TrimPrefix(v, "=")); v == "" || strings.HasPrefix(v, "=") && err == nil && on {
			return exitError
		}
	}
	return exitUsage
}

// Main is the whole CLI, callable from tests. extra modules are added to the standard
// ones (tests use it to count effects).
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer, extra []runtime.Module) (code int) {
	so := &stdoutWriter{w: stdout}
	stdout = so
	defer func() { code = so.exitCode(stderr, code) }()
	if isTestCommand(args) {
		return testMain(ctx, args[1:], stdout, stderr)
	}
	f, _, err := parseFlags(args, stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "nvrun: %v\n%s\n", err, usageLine)
		return usageExit(args)
	}
	if f.version {
		fmt.Fprintf(stdout, "nvrun %s\n", version)
		return exitOK
	}
	env := envMap(environ)
	var saved *runtime.SavedPlan
	if f.applyPlan != "" {
		if saved, err = runtime.ReadSavedPlan(f.applyPlan); err == nil {
			err = saved.CheckScript() // before anything runs
		}
		if err != nil {
			fmt.Fprintf(stderr, "nvrun: --apply-plan: %v\n", err)
			return exitError
		}
		f.script = saved.Script
	}
	if st, err := os.Stat(f.script); err != nil || st.IsDir() {
		msg := "not a file"
		if err != nil {
			msg = strings.TrimPrefix(err.Error(), "stat "+f.script+": ")
		}
		fmt.Fprintf(stderr, "nvrun: script %s: %s\n%s\n", f.script, msg, usageLine)
		return usageExit(args)
	}
	locker, err := applyLock(f.lock, f.keysFile, env)
	if err != nil {
		fmt.Fprintf(stderr, "nvrun: %v\n%s\n", err, usageLine)
		return exitUsage
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, f.timeout, runTimeout{f.timeout})
		defer cancel()
	}

	red := runtime.NewRedactor()
	out, errOut := red.Writer(stdout), red.Writer(stderr)
	color := !f.noColor && env["NO_COLOR"] == "" && isTerminal(stdout) && !f.json
	mode := runtime.Apply
	if f.plan || f.listVars {
		mode = runtime.Plan
	}
	progressOut := stdout
	if f.json {
		progressOut = stderr // keep stdout pure JSON
	}
	opts := runtime.Options{
		Script:      f.script,
		Mode:        mode,
		Offline:     f.offline || f.listVars,
		Destroy:     f.destroy,
		Vars:        f.vars,
		VarFiles:    f.varFiles,
		Environ:     environ,
		Modules:     append(modules(moduleConfig{keysFile: f.keysFile, env: env, rawStderr: stderr}), extra...),
		Stdlib:      stdlib.FS,
		Out:         progressOut,
		Color:       color,
		Interactive: color && mode == runtime.Apply,
		MaxSteps:    f.maxSteps,
		Lock:        locker,
		LockTimeout: f.lockTimeout,
		SavedPlan:   saved,
		Parallelism: f.parallelism,
	}
	if f.out != "" {
		opts.VarSalt = runtime.NewVarSalt()
	}
	res, err := runtime.Exec(ctx, opts, red)
	if err == nil && f.out != "" {
		err = savePlan(res, opts, red, f.out)
	}

	var usage *runtime.UsageError
	if f.listVars && res != nil && !errors.As(err, &usage) {
		// var() declarations are collected as they execute: list them even when the
		// script fails later offline, and say where the list stops.
		writeVars(out, res.Vars)
		if err == nil {
			return exitOK
		}
		fmt.Fprintf(errOut, "Error: the script stopped offline, so vars declared after it are not listed:\n%v\n", err)
		return exitError
	}
	if f.json {
		msg := ""
		if err != nil {
			msg = red.Redact(err.Error())
		}
		if res == nil {
			// The preflight failed before the run began: still one JSON document, so a
			// pipeline reading stdout sees the error rather than nothing.
			res = &runtime.Result{Mode: mode, Script: f.script}
		}
		_ = res.WriteJSON(out, msg) // a failed write is kept by stdoutWriter: exit 1
	}
	if err != nil && ctx.Err() != nil {
		return reportStopped(errOut, ctx, err, res)
	}
	if err != nil {
		return reportError(errOut, err, res, mode, usageExit(args))
	}
	if !f.json {
		ro := runtime.RenderOptions{Color: color}
		if mode == runtime.Plan {
			_ = res.WritePlan(out, ro)
			if f.out != "" {
				fmt.Fprintf(out, "\nSaved the plan to %s: apply exactly this plan with nvrun --apply-plan %s\n", f.out, f.out)
			}
		} else {
			_ = res.WriteApplySummary(out, ro)
		}
	}
	if f.detailedExitcode && res.Changes() {
		return exitChanges
	}
	return exitOK
}

func reportError(w io.Writer, err error, res *runtime.Result, mode runtime.Mode, usageCode int) int {
	var usage *runtime.UsageError
	var pre *runtime.PreflightError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(w, "nvrun: %v\n%s\n", usage, usageLine)
		return usageCode
	case errors.As(err, &pre):
		fmt.Fprintf(w, "Error: the script cannot be planned, so nothing was applied:\n%v\n", pre.Err)
	default:
		fmt.Fprintf(w, "Error: %v\n", err)
		if mode == runtime.Apply && res != nil {
			s := res.Summary()
			if n := s.Create + s.Update + s.Delete + s.Call - s.Failed; n > 0 {
				fmt.Fprintf(w, "%d change(s) were applied before the error; every builtin is idempotent, so re-running converges.\n", n)
			}
		}
	}
	return exitError
}

func writeVars(w io.Writer, vars []runtime.VarInfo) {
	if len(vars) == 0 {
		fmt.Fprintln(w, "This script declares no vars.")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tDEFAULT\tDOC")
	for _, v := range vars {
		def := v.Default
		if v.Type == "list" || v.Type == "dict" {
			def = cut(def, maxDefaultWidth) // a URL or a path is worth its width; a SQL list is not
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, v.Type, def, v.Doc)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nSet with --var NAME=VALUE, --var-file FILE.json, or NVRUN_VAR_NAME=VALUE.")
}

// maxDefaultWidth keeps a long list or dict default from pushing the DOC column off the
// screen.
const maxDefaultWidth = 40

// cut shortens s to n runes, the last one an ellipsis.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func isTerminal(w io.Writer) bool {
	if so, ok := w.(*stdoutWriter); ok {
		w = so.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
