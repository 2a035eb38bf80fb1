package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/internal/testserver"
)

// The README's "Testing your scripts" example works as written: its test file, next to
// a fork of the guide (myfork.star), passes. And a test whose described answer never
// satisfies the script fails at once: nvrun test caps the script's 1m wait.
func TestReadmeTestExample(t *testing.T) {
	root := testserver.RepoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "## Testing your scripts")
	_, block, ok2 := strings.Cut(section, "```python\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 || !strings.Contains(block, "def test_") {
		t.Fatal(`README.md's "Testing your scripts" has no python block with tests`)
	}
	dir := t.TempDir()
	copyTree(t, filepath.Join(root, "scripts"), dir)
	guide, err := os.ReadFile(filepath.Join(dir, "guide.star"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("myfork.star", string(guide))
	write("myfork_test.star", block)
	r := nvrun(t, nil, nil, "test", "-v", filepath.Join(dir, "myfork_test.star"))
	if r.code != 0 || strings.Count(r.stdout, "--- PASS: ") != strings.Count(block, "def test_") {
		t.Fatalf("the README's example: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The same test with the web page lacking the names: it fails, on the capped wait.
	const names = "John Doe, Peter Parker, Clifford Roosevelt, Bruce Wayne, Steven Clark, Mary Jane"
	if !strings.Contains(block, names) {
		t.Fatalf("the README's example no longer describes the six names")
	}
	write("myfork_test.star", strings.ReplaceAll(block, names, "John Doe"))
	r = nvrun(t, nil, nil, "test", "-run", "second_run", filepath.Join(dir, "myfork_test.star"))
	if r.code != 1 || !strings.Contains(r.stdout, "--- FAIL: test_second_run_changes_nothing") ||
		!strings.Contains(r.stdout, "not as expected after 1s") {
		t.Fatalf("want the test to fail on http.get's wait, capped at 1s: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// copyTree copies the regular files under src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
