package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// benchEnv holds what every scenario shares: the nvrun binary built once, a scratch dir.
type benchEnv struct {
	rounds  int
	dir     string
	nvrun   string
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
		return nil, err
	}
	bin := filepath.Join(dir, "nvrun")
	build := exec.Command("go", "build", "-o", bin, "./cmd/nvrun")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build nvrun: %v\n%s", err, out)
	}
	return &benchEnv{rounds: rounds, dir: dir, nvrun: bin, root: root, machine: machine()}, nil
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
	return fmt.Sprintf("%d CPUs (nproc), %s RAM, %s/%s, %s", runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// contender is one way of doing the scenario's work, timed per call.
type contender struct {
	name string
	run  func() error
}

// interleave runs each contender once per round, in rotating order so that neither
// always goes first, and returns the samples per contender.
func interleave(rounds int, cs []contender) (map[string][]time.Duration, error) {
	samples := map[string][]time.Duration{}
	for r := 0; r < rounds; r++ {
		for i := range cs {
			c := cs[(i+r)%len(cs)]
			start := time.Now()
			if err := c.run(); err != nil {
				return nil, fmt.Errorf("%s (round %d): %w", c.name, r+1, err)
			}
			samples[c.name] = append(samples[c.name], time.Since(start))
		}
	}
	return samples, nil
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

// report prints medians and each contender's ratio to the baseline.
func report(samples map[string][]time.Duration, order []string, baseline string) {
	base := median(samples[baseline])
	fmt.Printf("| contender | median | ratio to %s |\n|---|---|---|\n", baseline)
	for _, n := range order {
		m := median(samples[n])
		fmt.Printf("| %s | %s | %.2fx |\n", n, m.Round(10*time.Microsecond), float64(m)/float64(base))
	}
}

// runCmd runs a command, failing with its output.
func runCmd(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
