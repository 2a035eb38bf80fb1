package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// benchEnv holds what every scenario shares: the nvrun binary and the replay program,
// built once, and a scratch dir.
type benchEnv struct {
	rounds  int // 0: each scenario's own default
	dir     string
	nvrun   string
	replay  string
	peakrss string
	root    string
	machine string
}

func newBenchEnv(rounds int) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "nvrun-bench-")
	if err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e := &benchEnv{rounds: rounds, dir: dir, root: root, machine: machine()}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&e.nvrun, "./cmd/nvrun"}, {&e.replay, "./bench/replay"}, {&e.peakrss, "./bench/peakrss"}} {
		*b.dst = filepath.Join(dir, filepath.Base(b.pkg))
		build := exec.Command("go", "build", "-o", *b.dst, b.pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	ok = true
	return e, nil
}

// nvrunHasFlag says whether the built nvrun lists flag (e.g. "--parallelism") in its
// --help, so the bench can pass a flag only to a build that has it.
func (e *benchEnv) nvrunHasFlag(flag string) bool {
	out, err := exec.Command(e.nvrun, "--help").CombinedOutput()
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(out)) {
		if f == flag || strings.HasPrefix(f, flag+"[") || strings.HasPrefix(f, flag+"=") {
			return true
		}
	}
	return false
}

// roundsOr is the -rounds flag if it was given, else the scenario's default.
func (e *benchEnv) roundsOr(def int) int {
	if e.rounds > 0 {
		return e.rounds
	}
	return def
}

func (e *benchEnv) close() { os.RemoveAll(e.dir) }

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the repo root: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = ", " + strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (nproc)%s, %s RAM, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// contender is one way of doing the scenario's work, timed per call. setup and after
// are not timed: setup prepares what run needs (a fresh Vault, say), after checks and
// tears down.
type contender struct {
	name  string
	setup func() error
	run   func() error
	after func() error
}

// samples are the timings of each contender, in run order.
type samples map[string][]time.Duration

// interleave runs each contender once per round, in rotating order so that neither
// always goes first, and returns the samples per contender.
func interleave(rounds int, cs []contender) (samples, error) {
	s := samples{}
	for r := 0; r < rounds; r++ {
		if err := runRound(r, cs, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// runRound runs round r of cs (0-based; it sets the rotation) into s.
func runRound(r int, cs []contender, s samples) error {
	for i := range cs {
		c := cs[(i+r)%len(cs)]
		if c.setup != nil {
			if err := c.setup(); err != nil {
				return fmt.Errorf("%s (round %d) setup: %w", c.name, r+1, err)
			}
		}
		start := time.Now()
		err := c.run()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("%s (round %d): %w", c.name, r+1, err)
		}
		s[c.name] = append(s[c.name], d)
		if c.after != nil {
			if err := c.after(); err != nil {
				return fmt.Errorf("%s (round %d) check: %w", c.name, r+1, err)
			}
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

// report prints medians (with the range) and each contender's ratio to the baseline.
func report(s samples, order []string, baseline string) {
	base := median(s[baseline])
	fmt.Printf("| contender | median | min – max | runs | ratio to %s |\n|---|---|---|---|---|\n", baseline)
	for _, n := range order {
		m := median(s[n])
		lo, hi := minMax(s[n])
		fmt.Printf("| %s | %s | %s – %s | %d | %.2fx |\n", n, round(m), round(lo), round(hi), len(s[n]), float64(m)/float64(base))
	}
}

// round keeps three significant figures or so, which is all a shared machine gives.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}

// ratio is a/b of the medians.
func ratio(s samples, a, b string) float64 {
	return float64(median(s[a])) / float64(median(s[b]))
}

// verdict says whether a measured value meets a target ("met" / "MISSED by X").
func verdict(ok bool, miss string) string {
	if ok {
		return "met"
	}
	return "MISSED (" + miss + ")"
}

// runCmd runs a command, failing with its output.
func runCmd(dir string, env []string, name string, args ...string) error {
	_, err := runProc(dir, env, nil, name, args...)
	return err
}

// proc is what a finished child process left: its stdout, and its peak RSS when it was
// run through peakrss.
type proc struct {
	stdout []byte
	maxRSS int64         // bytes (ru_maxrss)
	cpu    time.Duration // user + system CPU time of the child
}

// runProcRSS is runProc through the peakrss program, which measures the command's own
// peak RSS (see bench/peakrss for why the bench cannot). It adds a process start, so
// the bench uses it in untimed runs only.
func (e *benchEnv) runProcRSS(dir string, env []string, hide []string, name string, args ...string) (proc, error) {
	f, err := os.CreateTemp(e.dir, "rss-")
	if err != nil {
		return proc{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	p, err := runProc(dir, env, hide, e.peakrss, append([]string{"-o", f.Name(), "--", name}, args...)...)
	if err != nil {
		return p, err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return p, err
	}
	if p.maxRSS, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		return p, fmt.Errorf("peakrss: %w", err)
	}
	return p, nil
}

// runProc runs a command and returns its stdout. On failure the error carries its
// output, with every string in hide replaced, so no secret is shown.
func runProc(dir string, env []string, hide []string, name string, args ...string) (proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	// Files, not pipes: the child writes straight to them, as to a terminal or a log,
	// and no goroutine of the bench wakes per line to copy its output while it is timed.
	outf, err := os.CreateTemp("", "nvrun-bench-out-")
	if err != nil {
		return proc{}, err
	}
	defer os.Remove(outf.Name())
	defer outf.Close()
	errf, err := os.CreateTemp("", "nvrun-bench-err-")
	if err != nil {
		return proc{}, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = outf, errf
	err = cmd.Run()
	stdout, _ := os.ReadFile(outf.Name())
	stderr, _ := os.ReadFile(errf.Name())
	p := proc{stdout: stdout}
	if cmd.ProcessState != nil {
		p.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		out := string(stdout) + string(stderr)
		shown := []string{filepath.Base(name)}
		for _, a := range args {
			shown = append(shown, a)
		}
		msg := fmt.Sprintf("%s: %v\n%s", strings.Join(shown, " "), err, out)
		for _, h := range hide {
			if h != "" {
				msg = strings.ReplaceAll(msg, h, "(sensitive)")
			}
		}
		return p, fmt.Errorf("%s", msg)
	}
	return p, nil
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func medianInt(xs []int64) int64 {
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func maxInt(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
