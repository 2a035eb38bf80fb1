package runtime

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data so that a reader, or a run killed at any
// point, sees the old file or the new one, never half of one: a temporary file in the
// same directory, its mode set before any byte is written (so a secret is never in a
// file wider than mode), fsynced, renamed over path, and the directory fsynced.
// prepare, if set, runs on the temporary file before the write (e.g. to chown it).
// The saved plan, the agent config and the JUnit report are written this way.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode, prepare func(*os.File)) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".nvrun-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	err = tmp.Chmod(mode)
	if err == nil && prepare != nil {
		prepare(tmp)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
