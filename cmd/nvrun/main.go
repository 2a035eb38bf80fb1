// Command nvrun runs Starlark scripts that drive Vault, Nomad and Consul: `nvrun
// SCRIPT` applies, `nvrun --plan SCRIPT` shows what apply would do and changes nothing.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := interruptContext(os.Stderr, signal.Notify, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Receiving SIGPIPE turns a write to a closed stdout into an EPIPE error rather than
	// a kill: the run's cleanup (lease revocation) still runs, and the lost output is
	// reported with exit 1 (see stdoutWriter).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	tuneGC(os.Getenv)
	stopProfile := cpuProfile(os.Getenv("NVRUN_CPUPROFILE"))
	code := Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, nil)
	stopProfile()
	os.Exit(code)
}

// cpuProfile writes a CPU profile of the whole run to path (NVRUN_CPUPROFILE, a hidden
// knob for `go tool pprof`; see BENCHMARKS.md). An empty path profiles nothing.
func cpuProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nvrun: NVRUN_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// tuneGC trades memory nvrun does not need for CPU: a run's heap is a few MB of live
// data (records, the compiled script, clients) and garbage from decoding answers, so
// the collector may let it grow 4x between cycles (GOGC=400) instead of 2x, with a soft
// limit of 40 MiB that brings the default pace back before the process gets big. The
// user's GOGC or GOMEMLIMIT wins. See BENCHMARKS.md for what it buys.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(40 << 20)
}
