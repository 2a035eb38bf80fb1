package testserver

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// assertGone fails unless no process with pid, nor any in its process group, is left.
func assertGone(t *testing.T, name string, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s pid %d still exists after Stop (kill 0: %v)", name, pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s process group %d still has processes after Stop (kill 0: %v)", name, pid, err)
	}
}

func TestVault(t *testing.T) {
	start := time.Now()
	v, err := StartVault(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Stop()
	t.Logf("vault answering at %s after %s", v.Addr, time.Since(start).Round(time.Millisecond))

	var status struct {
		Initialized bool   `json:"initialized"`
		Sealed      bool   `json:"sealed"`
		Version     string `json:"version"`
	}
	if err := v.call(http.MethodGet, "/v1/sys/seal-status", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status.Initialized || !status.Sealed {
		t.Fatalf("fresh vault: initialized=%v sealed=%v, want an uninitialised, sealed server", status.Initialized, status.Sealed)
	}
	if status.Version != "1.14.1" {
		t.Errorf("vault version %q, want 1.14.1", status.Version)
	}

	start = time.Now()
	token, keys, err := v.InitUnseal()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vault initialised, unsealed and active after %s", time.Since(start).Round(time.Millisecond))
	if token == "" || len(keys) != 1 {
		t.Fatalf("InitUnseal: token %q, %d keys", token, len(keys))
	}

	resp, err := http.Get(v.Addr + "/v1/sys/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("sys/health: HTTP %d, want 200 (active)", resp.StatusCode)
	}
	if err := v.call(http.MethodGet, "/v1/sys/seal-status", nil, &status); err != nil {
		t.Fatal(err)
	}
	if !status.Initialized || status.Sealed {
		t.Errorf("after InitUnseal: initialized=%v sealed=%v", status.Initialized, status.Sealed)
	}
	// The root token works.
	var self struct {
		Data struct {
			Policies []string `json:"policies"`
		} `json:"data"`
	}
	if err := v.call(http.MethodGet, "/v1/auth/token/lookup-self", nil, &self); err != nil {
		t.Fatal(err)
	}
	if strings.Join(self.Data.Policies, ",") != "root" {
		t.Errorf("root token policies %v", self.Data.Policies)
	}

	pid := v.Proc.Cmd.Process.Pid
	v.Stop()
	assertGone(t, "vault", pid)
}

func TestPostgres(t *testing.T) {
	start := time.Now()
	pg, err := StartPostgres(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	t.Logf("postgres ready on %s:%d after %s (bin %s)", pg.Host, pg.Port, time.Since(start).Round(time.Millisecond), pg.BinDir)
	if !strings.HasPrefix(pg.URL(), "postgres://postgres:"+pg.Password+"@127.0.0.1:"+strconv.Itoa(pg.Port)+"/") {
		t.Errorf("URL() = %q", pg.URL())
	}

	psql := func(password string) (string, error) {
		cmd := exec.Command(filepath.Join(pg.BinDir, "psql"), "-X", "-tA", "-w",
			"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User, "-d", "postgres",
			"-c", "SELECT 1")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=5"}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := psql(pg.Password)
	if err != nil || out != "1" {
		t.Fatalf("psql SELECT 1: %v: %s", err, out)
	}
	if out, err := psql("wrong-" + pg.Password); err == nil {
		t.Errorf("psql with a wrong password succeeded: %s", out)
	} else if !strings.Contains(out, "password authentication failed") {
		t.Errorf("psql with a wrong password: %v: %s", err, out)
	}

	pid := pg.Proc.Cmd.Process.Pid
	dataDir := pg.DataDir
	pg.Stop()
	assertGone(t, "postgres", pid)
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data dir %s still there after Stop: %v", dataDir, err)
	}
}
