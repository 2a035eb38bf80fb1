package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// TestLockFlags: with the default lock file (next to NVRUN_KEYS_FILE) held elsewhere, an
// apply exits 1 naming it and writes nothing, while a plan, --lock none and another
// --lock file are not held up. Bad --lock values are usage errors.
func TestLockFlags(t *testing.T) {
	dir := t.TempDir()
	env := []string{"NVRUN_KEYS_FILE=" + filepath.Join(dir, "keys.json")}
	lockPath := filepath.Join(dir, "keys.json.lock")
	holder := runtime.LockHolder{Who: "alice@ops1", PID: 4242}
	release, err := (&runtime.FileLock{Path: lockPath}).Lock(context.Background(), holder, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release(context.Background())
	script := writeScript(t, `probe.put("a", "1")`)

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string // a substring of the error, for non-zero codes
		writes int
	}{
		{"apply: lock held", nil, 1, "another apply holds the lock file " + lockPath + ": alice@ops1 (pid 4242), since ", 0},
		{"apply --json: lock held", []string{"--json"}, 1, "another apply holds the lock file", 0},
		{"plan takes no lock", []string{"--plan"}, 0, "", 0},
		{"--lock none", []string{"--lock", "none"}, 0, "", 1},
		{"--lock file:other", []string{"--lock", "file:" + filepath.Join(dir, "other.lock")}, 0, "", 1},
		{"--lock bogus", []string{"--lock", "bogus"}, 2, `--lock "bogus": want file:PATH, consul:KEY or none`, 0},
		{"--lock file:", []string{"--lock", "file:"}, 2, "want file:PATH", 0},
		{"--lock consul:", []string{"--lock", "consul:"}, 2, "needs a KEY", 0},
		{"negative --lock-timeout", []string{"--lock-timeout", "-1s"}, 2, "--lock-timeout must not be negative", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := runtimetest.NewServer()
			res := nvrun(t, srv, env, append(c.args, script)...)
			if res.code != c.code || !strings.Contains(res.stderr, c.stderr) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", res.code, c.code, c.stderr, res.stdout, res.stderr)
			}
			if srv.Writes() != c.writes {
				t.Fatalf("%d writes, want %d", srv.Writes(), c.writes)
			}
		})
	}
}
