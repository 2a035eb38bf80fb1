package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var modeAtPrepare os.FileMode
	err := WriteFileAtomic(path, []byte("new"), 0o600, func(f *os.File) {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		modeAtPrepare = st.Mode().Perm()
	})
	if err != nil {
		t.Fatal(err)
	}
	if modeAtPrepare != 0o600 {
		t.Errorf("mode before the write = %o, want 0600 (a secret must never sit in a wider file)", modeAtPrepare)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 0600", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries left in the directory, want only the file", len(ents))
	}
	// A directory that does not exist: an error, and nothing written.
	if err := WriteFileAtomic(filepath.Join(dir, "no", "such"), []byte("x"), 0o600, nil); err == nil {
		t.Error("no error writing into a missing directory")
	}
}
