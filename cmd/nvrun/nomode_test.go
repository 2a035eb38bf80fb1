package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/internal/testserver"
)

// Builtin modules declare resources and queries; the runtime alone decides the mode. No
// non-test file under builtins/ may ask it (the Nomad double, a server of its own, is
// not a builtin).
func TestBuiltinsNeverAskTheMode(t *testing.T) {
	root := filepath.Join(testserver.RepoRoot(), "builtins")
	asks := regexp.MustCompile(`\.(Mode|Offline)\(\)`)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "nomadtest":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(src), "\n") {
			if asks.MatchString(line) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("builtins/%s:%d asks the run's mode: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files under %s", checked, root)
	}
}
