package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvrun/nvrun/runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

type flags struct {
	plan             bool
	destroy          bool
	offline          bool
	json             bool
	detailedExitcode bool
	noColor          bool
	vars             []string
	varFiles         []string
	listVars         bool
	timeout          time.Duration
	version          bool
	keysFile         string
	maxSteps         uint64
	lock             string
	lockTimeout      time.Duration
	script           string
	out              string // --plan --out FILE: save the plan
	applyPlan        string // --apply-plan FILE: apply a saved plan
	parallelism      int    // --parallelism N: a live plan's reads in flight per server
}

const usageLine = "usage: nvrun [--plan] [--var NAME=VALUE]... [flags] SCRIPT   (nvrun --help for all flags)"

func parseFlags(args []string, stderr io.Writer) (*flags, *pflag.FlagSet, error) {
	f := &flags{}
	fs := pflag.NewFlagSet("nvrun", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by Main, with a hint
	fs.SortFlags = false
	fs.BoolVar(&f.plan, "plan", false, "show what the script would change, and change nothing")
	fs.BoolVar(&f.destroy, "destroy", false, "undo what the script creates, last first (with --plan: only show it); keep=True exempts a resource")
	fs.BoolVar(&f.offline, "offline", false, "plan without reading any server (implies --plan)")
	fs.BoolVar(&f.json, "json", false, "print the plan/apply record as JSON (secrets redacted)")
	fs.BoolVar(&f.detailedExitcode, "detailed-exitcode", false, "exit 0 when nothing changes, 2 when something would change or changed, 1 on error")
	fs.BoolVar(&f.noColor, "no-color", false, "no colours (also NO_COLOR=1)")
	fs.StringArrayVar(&f.vars, "var", nil, "set a script var: NAME=VALUE (repeatable; lists and dicts as JSON)")
	fs.StringArrayVar(&f.varFiles, "var-file", nil, "set script vars from a JSON object file (repeatable)")
	fs.BoolVar(&f.listVars, "vars", false, "list the script's vars with their defaults and docs; contacts no server")
	fs.DurationVar(&f.timeout, "timeout", 0, "stop the run after this long, e.g. 10m (0: no limit)")
	fs.StringVar(&f.keysFile, "keys-file", "", "where vault.init writes the unseal keys and root token (0600; default ./vault-keys.json, or NVRUN_KEYS_FILE)")
	fs.StringVar(&f.lock, "lock", "", "what an apply locks so applies take turns: a lock file next to the keys file (default), file:PATH, consul:KEY (a Consul session lock), or none")
	fs.DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long an apply waits for the lock another apply holds, e.g. 5m (0: fail at once)")
	fs.Uint64Var(&f.maxSteps, "max-steps", 0, "stop a runaway script after this many Starlark steps (default 200000000)")
	fs.StringVar(&f.out, "out", "", "with --plan: save the plan to FILE (JSON, 0600, no secrets) for --apply-plan")
	fs.StringVar(&f.applyPlan, "apply-plan", "", "apply a plan saved by --plan --out FILE, refusing if anything moved since (no SCRIPT argument)")
	fs.IntVar(&f.parallelism, "parallelism", runtime.DefaultParallelism, "a live plan reads up to N resources at a time per server (1: one by one); its output is the same")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if *help {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n%s\nnvrun test [PATH...] runs the scripts' *_test.star files: see nvrun test --help\n",
			strings.TrimPrefix(usageLine, "usage: "), fs.FlagUsages())
		return nil, fs, errHelp
	}
	if f.version {
		return f, fs, nil
	}
	if f.parallelism < 1 {
		return nil, fs, fmt.Errorf("--parallelism must be at least 1, not %d", f.parallelism)
	}
	rest := fs.Args()
	if err := savedPlanFlags(f, fs, rest); err != nil || f.applyPlan != "" {
		return f, fs, err
	}
	switch {
	case len(rest) == 0:
		return nil, fs, fmt.Errorf("missing SCRIPT")
	case len(rest) > 1:
		return nil, fs, fmt.Errorf("one SCRIPT expected, got %d arguments (%s)", len(rest), strings.Join(rest, " "))
	}
	f.script = rest[0]
	if f.offline {
		f.plan = true
	}
	if f.destroy && f.listVars {
		return nil, fs, fmt.Errorf("--destroy cannot be combined with --vars")
	}
	if f.timeout < 0 {
		return nil, fs, fmt.Errorf("--timeout must not be negative")
	}
	if f.lockTimeout < 0 {
		return nil, fs, fmt.Errorf("--lock-timeout must not be negative")
	}
	return f, fs, nil
}

// savedPlanFlags checks --out and --apply-plan (README "Saved plans"): an applied plan
// names its own script and is applied, never planned.
func savedPlanFlags(f *flags, fs *pflag.FlagSet, rest []string) error {
	switch {
	case fs.Changed("out") && f.out == "":
		return fmt.Errorf("--out needs a FILE")
	case f.out != "" && (!f.plan || f.offline):
		return fmt.Errorf("--out saves a live plan: use it with --plan (not --offline)")
	case fs.Changed("apply-plan") && f.applyPlan == "":
		return fmt.Errorf("--apply-plan needs a FILE")
	case f.destroy && (f.applyPlan != "" || f.out != ""):
		// A saved plan records an apply's changes, not a destroy's deletes.
		return fmt.Errorf("--destroy cannot be combined with --apply-plan or --out: a saved plan is an apply's")
	case f.applyPlan == "":
		return nil
	case f.plan || f.offline || f.listVars:
		return fmt.Errorf("--apply-plan applies a saved plan: it cannot be used with --plan, --offline or --vars")
	case f.out != "":
		return fmt.Errorf("--apply-plan cannot be used with --out")
	case len(rest) > 0:
		return fmt.Errorf("--apply-plan takes no SCRIPT argument: the plan file names its script (got %s)", strings.Join(rest, " "))
	case f.timeout < 0 || f.lockTimeout < 0:
		return fmt.Errorf("--timeout and --lock-timeout must not be negative")
	}
	return nil
}
