package scripttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScriptPath(t *testing.T) {
	root := t.TempDir()
	mustWrite := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := filepath.Join(root, "tests")
	mustWrite(filepath.Join(tests, "a.star"))
	mustWrite(filepath.Join(tests, "sub", "b.star"))
	mustWrite(filepath.Join(root, "outside.star"))
	if err := os.Symlink(filepath.Join(root, "outside.star"), filepath.Join(tests, "link.star")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tests, "dir.star"), 0o755); err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(tests, "a_test.star")

	for _, tt := range []struct {
		script, want, err string
	}{
		{script: "a.star", want: filepath.Join(tests, "a.star")},
		{script: "sub/b.star", want: filepath.Join(tests, "sub", "b.star")},
		{script: "sub/../a.star", want: filepath.Join(tests, "a.star")},
		{script: "../outside.star", err: `script "../outside.star" is outside the test file's directory tree`},
		{script: "sub/../../outside.star", err: "is outside the test file's directory tree"},
		{script: "link.star", err: `script "link.star" is outside the test file's directory tree`},
		{script: filepath.Join(tests, "a.star"), err: "an absolute path; give it relative to the test file"},
		{script: "missing.star", err: `script "missing.star": no such file (paths are relative to the test file`},
		{script: "../missing.star", err: "is outside the test file's directory tree"},
		{script: "dir.star", err: `script "dir.star": not a file`},
		{script: "", err: "the script path is empty"},
	} {
		got, err := scriptPath(testFile, tt.script)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.script, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("%q: got %s, want %s", tt.script, got, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: error %v, want one containing %q", tt.script, err, tt.err)
		}
	}
}
