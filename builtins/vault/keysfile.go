package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
// and so that a path we cannot write is found before init rather than after.
func reserveKeysFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, keysFileExists(path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create the keys file before initialising Vault: %w", err)
	}
	// The mode given to OpenFile is filtered by the umask; make sure it is 0600.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	return f, nil
}

func keysFileExists(path string) error {
	return fmt.Errorf("refusing to initialise Vault: the keys file %s already exists and nvrun never overwrites one "+
		"(it may hold the only copy of another Vault's keys); move it away, or point --keys-file / NVRUN_KEYS_FILE elsewhere", path)
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

// loadKeys reads the keys file of an already initialised Vault.
func loadKeys(path, addr string) (*keysDoc, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("Vault at %s is already initialised, but the keys file %s does not exist: "+
			"the unseal keys and root token of an initialised Vault cannot be recovered by nvrun. "+
			"Give the keys file that the initialising run wrote (--keys-file or NVRUN_KEYS_FILE), "+
			"or leave vault.init/vault.unseal out of the script and provide a token with VAULT_TOKEN or vault.login(token)",
			addr, path)
	}
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	var doc keysDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		// Not %w: a JSON syntax error quotes the offending bytes, which are key material.
		return nil, fmt.Errorf("keys file %s is not valid JSON (as `vault operator init -format=json` writes)", path)
	}
	if len(doc.UnsealKeysB64) == 0 && len(doc.UnsealKeysHex) == 0 {
		return nil, fmt.Errorf("keys file %s holds no unseal_keys_b64 or unseal_keys_hex", path)
	}
	if doc.RootToken == "" {
		return nil, fmt.Errorf("keys file %s holds no root_token", path)
	}
	return &doc, nil
}

// keys is the list of unseal keys, base64 as the CLI prints them.
func (d *keysDoc) keys() []string {
	if len(d.UnsealKeysB64) > 0 {
		return d.UnsealKeysB64
	}
	return d.UnsealKeysHex
}
