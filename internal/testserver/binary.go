package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot is the repository's top directory, found from this source file so that
// tests in any package agree on it.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the cached path of a test server built by testdata/servers/build.sh.
// It does not build: `make servers` (run by `make test`) does, because a cold build
// takes minutes and would blow a test timeout.
func Binary(name string) (string, error) {
	script := filepath.Join(RepoRoot(), "testdata", "servers", "build.sh")
	cmd := exec.Command("bash", script, "--path", name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("test server %s is not built (run `make servers`): %s", name, strings.TrimSpace(stderr.String()))
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("test server %s: %w", name, err)
	}
	return path, nil
}
