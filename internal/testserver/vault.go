package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Vault is a real Vault server (not dev mode: file storage, no TLS) on a loopback port.
type Vault struct {
	// Addr is the server's base URL, "http://127.0.0.1:PORT".
	Addr string
	Proc *Process
	// Dir holds the config, the file storage and the log.
	Dir string

	// RootToken and UnsealKeys are set by InitUnseal.
	RootToken  string
	UnsealKeys []string
}

// vaultStartTimeout bounds how long the server may take to listen and answer HTTP.
const vaultStartTimeout = 60 * time.Second

// StartVault writes a config into dir and starts `vault server` on a free port with a
// clean environment (nothing like VAULT_TOKEN or VAULT_ADDR leaks in from the test's
// environment). It returns once the HTTP API answers. The server is neither initialised
// nor unsealed; see InitUnseal and StartVaultUnsealed.
func StartVault(dir string) (*Vault, error) {
	bin, err := Binary("vault")
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	hostport := "127.0.0.1:" + strconv.Itoa(port)
	addr := "http://" + hostport
	config := fmt.Sprintf(`storage "file" {
  path = %s
}

listener "tcp" {
  address     = %s
  tls_disable = true
}

disable_mlock = true
api_addr      = %s
ui            = false
`, strconv.Quote(storage), strconv.Quote(hostport), strconv.Quote(addr))
	configPath := filepath.Join(dir, "vault.hcl")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}

	cmd := exec.Command(bin, "server", "-config="+configPath)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + dir,
		"TMPDIR=" + os.TempDir(),
	}
	proc, err := Start("vault", cmd, filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	v := &Vault{Addr: addr, Proc: proc, Dir: dir}
	if err := v.waitHTTP(vaultStartTimeout); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return v, nil
}

// StartVaultUnsealed starts Vault in dir, initialises it with one unseal key, unseals it
// and waits until it is active. It returns the server and its root token.
func StartVaultUnsealed(dir string) (*Vault, string, error) {
	v, err := StartVault(dir)
	if err != nil {
		return nil, "", err
	}
	token, _, err := v.InitUnseal()
	if err != nil {
		v.Stop()
		return nil, "", err
	}
	return v, token, nil
}

// Stop stops the server by PID. The storage in Dir is left for the caller's cleanup.
func (v *Vault) Stop() {
	if v != nil {
		_ = v.Proc.Stop()
	}
}

// waitHTTP waits until the API answers an HTTP request (any status), or the process dies.
func (v *Vault) waitHTTP(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if err := v.Proc.WaitTCP(strings.TrimPrefix(v.Addr, "http://"), timeout); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for time.Now().Before(deadline) {
		if v.Proc.Exited() {
			return fmt.Errorf("vault exited during start-up:\n%s", v.Proc.Log())
		}
		resp, err := client.Get(v.Addr + "/v1/sys/seal-status")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vault API at %s did not answer within %s: %v\n%s", v.Addr, timeout, lastErr, v.Proc.Log())
}

// InitUnseal initialises the server with 1 key share (threshold 1), unseals it, and waits
// until /v1/sys/health reports it active (HTTP 200). It uses plain HTTP, so that this
// module needs no Vault client library.
func (v *Vault) InitUnseal() (rootToken string, unsealKeys []string, err error) {
	var initResp struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	if err := v.call(http.MethodPut, "/v1/sys/init", map[string]int{"secret_shares": 1, "secret_threshold": 1}, &initResp); err != nil {
		return "", nil, fmt.Errorf("vault init: %w", err)
	}
	if initResp.RootToken == "" || len(initResp.Keys) != 1 {
		return "", nil, fmt.Errorf("vault init: unexpected answer: %d keys, root token set: %v", len(initResp.Keys), initResp.RootToken != "")
	}
	var unsealResp struct {
		Sealed bool `json:"sealed"`
	}
	if err := v.call(http.MethodPut, "/v1/sys/unseal", map[string]string{"key": initResp.Keys[0]}, &unsealResp); err != nil {
		return "", nil, fmt.Errorf("vault unseal: %w", err)
	}
	if unsealResp.Sealed {
		return "", nil, fmt.Errorf("vault unseal: still sealed after the only key")
	}
	if err := v.WaitActive(vaultStartTimeout); err != nil {
		return "", nil, err
	}
	v.RootToken, v.UnsealKeys = initResp.RootToken, initResp.Keys
	return initResp.RootToken, initResp.Keys, nil
}

// WaitActive waits until /v1/sys/health answers 200 (initialised, unsealed, active).
func (v *Vault) WaitActive(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if v.Proc.Exited() {
			return fmt.Errorf("vault exited:\n%s", v.Proc.Log())
		}
		resp, err := client.Get(v.Addr + "/v1/sys/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vault at %s did not become active within %s (last: %s)\n%s", v.Addr, timeout, last, v.Proc.Log())
}

// call sends a JSON request to the Vault API (with the root token, if known) and decodes
// a 2xx JSON answer into out (if not nil).
func (v *Vault) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, v.Addr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if v.RootToken != "" {
		req.Header.Set("X-Vault-Token", v.RootToken)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
