package scripttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// scriptPath resolves a plan()/apply() script path, relative to the test file, and
// keeps it inside the test file's directory tree (symlinks resolved), as load() keeps a
// script inside its own: a test of a fork must not run whatever lies elsewhere. The
// result is the path as positions should show it (the test file's directory as the user
// named it, joined with the script).
func scriptPath(testFile, script string) (string, error) {
	if script == "" {
		return "", fmt.Errorf("the script path is empty")
	}
	if filepath.IsAbs(script) {
		return "", fmt.Errorf("script %q: an absolute path; give it relative to the test file", script)
	}
	dir := filepath.Dir(testFile)
	display := filepath.Join(dir, filepath.FromSlash(script))
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	abs, err := filepath.Abs(display)
	if err != nil {
		return "", err
	}
	if !inside(dirAbs(dir), abs) {
		return "", outside(script, dir)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("script %q: no such file (paths are relative to the test file, %s)", script, testFile)
		}
		return "", fmt.Errorf("script %q: %w", script, err)
	}
	if !inside(root, real) { // a symlink that leads out
		return "", outside(script, dir)
	}
	if st, err := os.Stat(real); err != nil || st.IsDir() {
		return "", fmt.Errorf("script %q: not a file", script)
	}
	return display, nil
}

func dirAbs(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}

// inside says whether path lies in the tree rooted at root (both absolute).
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func outside(script, dir string) error {
	if dir == "." {
		dir = "the current directory"
	}
	return fmt.Errorf("script %q is outside the test file's directory tree (%s): a test may run only scripts beside it or below", script, dir)
}
