package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestUpstreamAPITests runs nomad/api's own tests for jobs, plan, allocations,
// evaluations, deployments, agent, status and nodes (the version go.mod names, copied
// from the module cache into a temporary module, never into the repository) against
// the double, through this shim as the `nomad` binary that their testutil starts. It
// asserts which of them pass: every test in upstreamTests runs, and passes exactly
// when it is listed as expected to pass.
func TestUpstreamAPITests(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run the upstream tests: %v", err)
	}
	tmp := t.TempDir()
	binDir := buildShim(t, goBin, tmp)
	modDir := upstreamModule(t, goBin)
	work := filepath.Join(tmp, "api")
	if err := copyTree(modDir, work); err != nil {
		t.Fatalf("copying the upstream module: %v", err)
	}

	// Every in-scope test must exist upstream: a renamed one would otherwise drop out.
	declared := declaredTests(t, work)
	var names []string
	for name := range upstreamTests {
		if !declared[name] {
			t.Errorf("%s is not in the upstream test files any more", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	// requiresRoot must name exactly the in-scope tests that call RequireRoot.
	callsRoot := rootTests(t, work)
	for name := range callsRoot {
		if _, inScope := upstreamTests[name]; inScope && !requiresRoot[name] {
			t.Errorf("%s calls testutil.RequireRoot: add it to requiresRoot", name)
		}
	}
	for name := range requiresRoot {
		if !callsRoot[name] {
			t.Errorf("%s is in requiresRoot but does not call testutil.RequireRoot", name)
		}
	}

	cmd := exec.Command(goBin, "test", "-count=1", "-json", "-parallel=4", "-timeout=15m",
		"-run", "^("+strings.Join(names, "|")+")$", ".")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output() // a failing test exits non-zero; the events say which
	results, outputs := parseEvents(t, out)

	asRoot := os.Getuid() == 0
	passed, rootSkipped := 0, 0
	for _, name := range names {
		got, ran := results[name]
		if !ran {
			t.Errorf("%s did not run (go test stderr: %s)", name, lastLines(stderr.String(), 5))
			continue
		}
		if msg := judge(name, got, outputs[name], asRoot); msg != "" {
			t.Error(msg)
		}
		switch {
		case got == "pass":
			passed++
		case got == "skip" && requiresRoot[name] && !asRoot:
			rootSkipped++
		}
	}
	t.Logf("%d of %d in-scope upstream nomad/api tests pass", passed, len(names))
	if rootSkipped > 0 {
		t.Logf("%d of them need root and were skipped as uid %d, as testutil.RequireRoot does: run as root to run them", rootSkipped, os.Getuid())
	}
}

// judge compares an upstream test's outcome (pass, fail or skip) with the expected
// one, and says what is wrong ("" when nothing). testutil.RequireRoot skips a test
// unless it runs as root (CI does): as another user, and only then, that skip is the
// expected outcome of the tests in requiresRoot. Any other skip is a failure.
func judge(name, got, output string, asRoot bool) string {
	want := upstreamTests[name]
	switch {
	case requiresRoot[name] && !asRoot:
		if got != "skip" || !strings.Contains(output, "test requires root") {
			return fmt.Sprintf("%s needs root and this is not root: expected its root skip, got %s:\n%s", name, got, output)
		}
	case got == "skip":
		return fmt.Sprintf("%s was skipped:\n%s", name, output)
	case want == pass && got != "pass":
		return fmt.Sprintf("%s failed, expected to pass:\n%s", name, output)
	case want != pass && got == "pass":
		return fmt.Sprintf("%s passed, but is listed as failing (%s): update upstreamTests", name, want)
	}
	return ""
}

var requireRootCall = regexp.MustCompile(`^\s*testutil\.RequireRoot\(t\)`)

// rootTests are the upstream tests whose body calls testutil.RequireRoot.
func rootTests(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	out := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		current := ""
		for _, line := range strings.Split(string(b), "\n") {
			if m := testFunc.FindStringSubmatch(line); m != nil {
				current = m[1]
			} else if strings.HasPrefix(line, "}") {
				current = ""
			} else if current != "" && requireRootCall.MatchString(line) {
				out[current] = true
			}
		}
	}
	return out
}

// buildShim builds this command as dir/bin/nomad and returns dir/bin.
func buildShim(t *testing.T, goBin, dir string) string {
	t.Helper()
	binDir := filepath.Join(dir, "bin")
	build := exec.Command(goBin, "build", "-o", filepath.Join(binDir, "nomad"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the shim: %v\n%s", err, out)
	}
	return binDir
}

// upstreamModule is the module cache directory of the nomad/api version go.mod names.
func upstreamModule(t *testing.T, goBin string) string {
	t.Helper()
	cmd := exec.Command(goBin, "mod", "download", "-json", "github.com/hashicorp/nomad/api")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download github.com/hashicorp/nomad/api: %v\n%s", err, out)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download: no directory (%v %s)", err, m.Error)
	}
	return m.Dir
}

// copyTree copies a module cache directory (read-only files) into a writable one.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		outF, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(outF, in); err != nil {
			outF.Close()
			return err
		}
		return outF.Close()
	})
}

var testFunc = regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)

func declaredTests(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	out := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	return out
}

// parseEvents reads `go test -json` output: the final action of each top-level test,
// and its output.
func parseEvents(t *testing.T, out []byte) (map[string]string, map[string]string) {
	t.Helper()
	results, outputs := map[string]string{}, map[string]*strings.Builder{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" {
			continue
		}
		top, _, _ := strings.Cut(ev.Test, "/")
		switch ev.Action {
		case "output":
			if outputs[top] == nil {
				outputs[top] = &strings.Builder{}
			}
			outputs[top].WriteString(ev.Output)
		case "pass", "fail", "skip":
			if top == ev.Test {
				results[top] = ev.Action
			}
		}
	}
	texts := map[string]string{}
	for k, v := range outputs {
		texts[k] = lastLines(v.String(), 40)
	}
	return results, texts
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
