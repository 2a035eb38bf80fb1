package runtime

import (
	"io"
	"io/fs"
	"time"
)

// Mode says whether a run records changes (Plan) or performs them (Apply).
type Mode int

const (
	Plan Mode = iota
	Apply
)

func (m Mode) String() string {
	if m == Apply {
		return "apply"
	}
	return "plan"
}

// DefaultMaxSteps bounds a runaway script. The guide needs a few thousand steps; a
// 2,000-resource script a few million.
const DefaultMaxSteps = 200_000_000

// Options configure one Exec.
type Options struct {
	Script string // path of the main script
	Mode   Mode
	// Offline forces a plan that reads no server; builtins return unknown values instead.
	Offline bool
	// MaxWait, if set, caps every Wait's timeout, and its polls come at least 50 times
	// as often: for `nvrun test`, whose fake servers settle within milliseconds, so a
	// failing test fails at once instead of after the script's own 1m wait.
	MaxWait time.Duration
	// SkipPreflight disables the offline plan that runs before an apply (tests only).
	SkipPreflight bool
	// Destroy runs the script to undo it: see destroy.go. With Mode Plan it only shows
	// the deletes.
	Destroy bool

	Vars     []string // --var k=v, in order; the last one wins
	VarFiles []string // --var-file paths (JSON objects), in order
	// Environ is the environment builtins and NVRUN_VAR_* see ("K=V" pairs); nil means
	// os.Environ(). Tests set it so that no ambient VAULT_ADDR leaks in.
	Environ []string

	Modules []Module
	Stdlib  fs.FS // files served as @stdlib//name.star

	// Out receives print() output and apply progress. It is always redacted.
	Out   io.Writer
	Color bool
	// Interactive enables spinners on waits (a terminal is attached).
	Interactive bool

	MaxSteps uint64

	// Lock, if set, is taken by an apply after its preflight and held until the run
	// ends (also on error, interrupt or timeout); a plan takes no lock. LockTimeout is
	// how long to wait for another holder to let go (0: fail at once).
	Lock        Locker
	LockTimeout time.Duration

	// VarSalt, if set, makes the result carry a salted digest of every var's value
	// (Result.VarDigests), for saved plans. SavedPlan, if set, makes an apply refuse
	// before its first write unless a fresh live plan matches it (--apply-plan).
	VarSalt   string
	SavedPlan *SavedPlan

	// Parallelism is how many reads a live plan has in flight per server, for the
	// resources that may be read ahead (readahead.go); 0 means DefaultParallelism, 1
	// reads one by one. The plan is the same either way.
	Parallelism int
}
