package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/vault/api"
)

// keysDoc is the keys file: the same JSON as `vault operator init -format=json` prints,
// so a file saved from the CLI works too, plus the address it belongs to.
type keysDoc struct {
	UnsealKeysB64   []string `json:"unseal_keys_b64"`
	UnsealKeysHex   []string `json:"unseal_keys_hex"`
	UnsealShares    int      `json:"unseal_shares"`
	UnsealThreshold int      `json:"unseal_threshold"`
	RootToken       string   `json:"root_token"`
	VaultAddr       string   `json:"vault_addr,omitempty"`
}

// reserveKeysFile creates the keys file, empty, before Vault is initialised: O_EXCL so
// an existing file (perhaps the only copy of another Vault's keys) is never overwritten,
// and so that a path we cannot write is found before init rather than after. An empty
// file that an interrupted run reserved (see reusableKeysFile) is taken over instead:
// it holds no keys, so nothing can be lost. Either way the file is locked (flock) until
// it is closed, so two runs never send sys/init with the same file.
//
// reused says the file existed; the caller then must not remove it on failure.
func reserveKeysFile(path string) (f *os.File, reused bool, err error) {
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		f, err = reuseKeysFile(path)
		return f, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot create the keys file before initialising Vault: %w", err)
	}
	// The mode given to OpenFile is filtered by the umask; make sure it is 0600.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, fmt.Errorf("keys file %s: %w", path, err)
	}
	if err := lockKeysFile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
	return f, false, nil
}

// reuseKeysFile opens an existing keys file for init only if it is one that an
// interrupted run reserved: checked by path, then again on the open, locked file, so
// that a file written or replaced in between is refused.
func reuseKeysFile(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	if !reusableKeysFile(fi) {
		return nil, keysFileExists(path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot open the empty keys file %s an earlier run reserved: %w", path, err)
	}
	if err := lockKeysFile(f); err != nil {
		f.Close()
		return nil, err
	}
	// Still the file at path (not replaced, nor removed by the run that held the lock),
	// and still empty.
	now, err := f.Stat()
	atPath, err2 := os.Lstat(path)
	if err != nil || err2 != nil || !os.SameFile(fi, now) || !os.SameFile(now, atPath) || !reusableKeysFile(now) {
		f.Close()
		return nil, keysFileExists(path)
	}
	return f, nil
}

// reusableKeysFile says whether an existing keys file is what reserveKeysFile leaves
// when a run is killed before Vault answers sys/init: a regular file, 0600, and empty.
// An empty file holds no keys, so taking it over loses nothing; any other file may be
// the only copy of some Vault's keys.
func reusableKeysFile(fi fs.FileInfo) bool {
	perm := fi.Mode // os.FileInfo's permission bits, not the run's mode
	return perm().IsRegular() && perm().Perm() == 0o600 && fi.Size() == 0
}

// lockKeysFile takes an exclusive, non-blocking flock, held until f is closed.
func lockKeysFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("the keys file %s is locked: another nvrun run is initialising Vault with it right now", f.Name())
	}
	if err != nil {
		return fmt.Errorf("cannot lock the keys file %s: %w", f.Name(), err)
	}
	return nil
}

func keysFileExists(path string) error {
	return fmt.Errorf("refusing to initialise Vault: the keys file %s already exists and nvrun never overwrites one "+
		"(it may hold the only copy of another Vault's keys); move it away, or point --keys-file / NVRUN_KEYS_FILE elsewhere", path)
}

// initCutOff is the error for a Vault that is initialised while the keys file reserved
// for its keys holds none (problem says how): the init that reserved it was cut off
// after Vault had initialised, and the keys are gone. It says how to start again, and,
// since a Vault initialised elsewhere on purpose has no keys file at all, how to go on
// that way instead.
func initCutOff(addr, path, problem string) error {
	return fmt.Errorf("Vault at %s is initialised, but %s: an earlier vault.init by nvrun was cut off after Vault initialised "+
		"(the run was killed, or Vault's answer to sys/init was lost on the way), so the unseal keys and root token were never saved. "+
		"%s", addr, problem, resetAdvice(path))
}

// resetAdvice says what to do when an initialised Vault's keys are lost.
func resetAdvice(path string) string {
	return fmt.Sprintf("They cannot be recovered: Vault shows them only once. If this Vault holds nothing yet, reset its storage: "+
		"stop Vault, wipe its storage directory (the storage \"file\" path, or the raft data directory), start it again, "+
		"and re-run, which initialises it afresh and reuses %s. If it was initialised elsewhere on purpose, "+
		"remove %s (or point --keys-file elsewhere) and give a token with VAULT_TOKEN", path, path)
}

// saveKeys writes the init answer into the reserved file and makes it durable (fsync of
// the file and of its directory). If that fails, the keys go to stderr with a loud
// warning rather than be lost: Vault will never show them again.
func saveKeys(f *os.File, resp *api.InitResponse, shares, threshold int, addr string, stderr io.Writer) error {
	doc := keysDoc{
		UnsealKeysB64: resp.KeysB64, UnsealKeysHex: resp.Keys,
		UnsealShares: shares, UnsealThreshold: threshold,
		RootToken: resp.RootToken, VaultAddr: addr,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err // cannot happen for these types
	}
	data = append(data, '\n')
	if err := writeDurably(f, data); err != nil {
		fmt.Fprintf(stderr, "\n"+
			"!!! WARNING: nvrun could not write the Vault unseal keys and root token to %s: %v\n"+
			"!!! Vault has been initialised and will NEVER show these keys again. Save them NOW:\n\n%s\n",
			f.Name(), err, data)
		return fmt.Errorf("Vault was initialised but its keys could not be saved to %s: %w; "+
			"they were printed to stderr: save them before doing anything else", f.Name(), err)
	}
	return nil
}

// writeDurably writes data, fsyncs the file, closes it and fsyncs its directory, so
// the keys survive a crash right after init.
func writeDurably(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(f.Name()))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// loadKeys reads the keys file of an already initialised Vault. A missing file is
// (nil, nil): Vault was initialised elsewhere. An empty one is what an init cut off after
// Vault's answer leaves (reserveKeysFile); that, and a file that holds no keys, is an
// error that says the keys are lost and how to start again.
func loadKeys(path, addr string) (*keysDoc, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	if len(data) == 0 {
		return nil, initCutOff(addr, path, "the keys file "+path+" is empty")
	}
	var doc keysDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		// Not %w: a JSON syntax error quotes the offending bytes, which are key material.
		return nil, badKeysFile(path, "is not valid JSON (as `vault operator init -format=json` writes)")
	}
	if len(doc.UnsealKeysB64) == 0 && len(doc.UnsealKeysHex) == 0 {
		return nil, badKeysFile(path, "holds no unseal_keys_b64 or unseal_keys_hex")
	}
	if doc.RootToken == "" {
		return nil, badKeysFile(path, "holds no root_token")
	}
	return &doc, nil
}

// badKeysFile is the error for a keys file that is there but unusable. nvrun writes the
// whole file in one write before its fsync, so a half-written one comes from a crash of
// the machine (or a file from elsewhere): either way its keys are not in it.
func badKeysFile(path, problem string) error {
	return fmt.Errorf("keys file %s %s: if an earlier vault.init by nvrun was cut off while writing it, "+
		"the keys were never saved (or, if that run could not write them, it printed them to its stderr). %s",
		path, problem, resetAdvice(path))
}

// keys is the list of unseal keys, base64 as the CLI prints them.
func (d *keysDoc) keys() []string {
	if len(d.UnsealKeysB64) > 0 {
		return d.UnsealKeysB64
	}
	return d.UnsealKeysHex
}
