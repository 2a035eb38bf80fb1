package testserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postgres is a throw-away PostgreSQL cluster on a loopback port, with password
// (scram-sha-256) authentication for the superuser "postgres".
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	Proc     *Process
	// BinDir holds the PostgreSQL programs (postgres, initdb, psql, pg_isready).
	BinDir string
	// DataDir is the cluster; its Unix socket is in it too. Stop removes its parent.
	DataDir string

	root string
}

// pgStartTimeout bounds initdb and the server start each.
const pgStartTimeout = 90 * time.Second

// PostgresBinDir finds the PostgreSQL 15 programs: $NVRUN_PG_BIN if set, else
// /usr/lib/postgresql/15/bin, else `pg_config --bindir`.
func PostgresBinDir() (string, error) {
	ok := func(dir string) bool {
		for _, prog := range []string{"postgres", "initdb", "pg_isready"} {
			if fi, err := os.Stat(filepath.Join(dir, prog)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("NVRUN_PG_BIN"); dir != "" {
		if !ok(dir) {
			return "", fmt.Errorf("postgres: NVRUN_PG_BIN=%s has no postgres, initdb and pg_isready", dir)
		}
		return dir, nil
	}
	const debian = "/usr/lib/postgresql/15/bin"
	if ok(debian) {
		return debian, nil
	}
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err == nil {
		if dir := strings.TrimSpace(string(out)); ok(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("postgres: PostgreSQL 15 not found in %s, nor by `pg_config --bindir` (set NVRUN_PG_BIN, or install postgresql-15)", debian)
}

// StartPostgres creates a fresh cluster and starts PostgreSQL on 127.0.0.1 on a free
// port. Its log goes to dir/postgres.log; the cluster itself lives in a new directory
// under os.TempDir(), because when the test runs as root the server runs as the user
// "postgres", which must be able to reach it (t.TempDir()'s parents may be 0700).
// It returns once the server accepts connections. Stop stops it and removes the cluster.
func StartPostgres(dir string) (*Postgres, error) {
	binDir, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}

	// Who runs the server: as root, the user postgres (initdb and postgres refuse root).
	var cred *syscall.Credential
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("postgres: running as root needs a user named postgres to run the server as: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	root, err := os.MkdirTemp("", "nvrun-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pg := &Postgres{Host: "127.0.0.1", User: "postgres", BinDir: binDir, root: root, DataDir: filepath.Join(root, "data")}
	fail := func(err error) (*Postgres, error) {
		if pg.Proc != nil {
			_ = pg.Proc.Stop()
		}
		_ = os.RemoveAll(root)
		return nil, err
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	if cred != nil {
		if err := checkTraversable(root, uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Mkdir(pg.DataDir, 0o700); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	if err := os.Chown(pg.DataDir, uid, gid); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}

	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	pg.Password = hex.EncodeToString(pw)
	pwfile := filepath.Join(root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}
	if err := os.Chown(pwfile, uid, gid); err != nil {
		return fail(fmt.Errorf("postgres: %w", err))
	}

	env := []string{
		"PATH=" + binDir + ":/usr/bin:/bin",
		"HOME=" + root,
		"LC_ALL=C",
		"LANG=C",
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(binDir, name), args...)
		cmd.Dir = root
		cmd.Env = env
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}

	initdb := command("initdb", "-D", pg.DataDir, "--username=postgres", "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
	initLog := filepath.Join(dir, "initdb.log")
	initProc, err := Start("initdb", initdb, initLog)
	if err != nil {
		return fail(err)
	}
	select {
	case <-initProc.done:
	case <-time.After(pgStartTimeout):
		_ = initProc.Stop()
		return fail(fmt.Errorf("postgres: initdb did not finish within %s\n%s", pgStartTimeout, initProc.Log()))
	}
	if initProc.waitErr != nil {
		return fail(fmt.Errorf("postgres: initdb: %v\n%s", initProc.waitErr, initProc.Log()))
	}
	_ = os.Remove(pwfile)

	port, err := FreePort()
	if err != nil {
		return fail(err)
	}
	pg.Port = port
	server := command("postgres", "-D", pg.DataDir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+pg.DataDir,
		"-c", "logging_collector=off",
		// A test cluster: durability is not worth the time.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	pg.Proc, err = Start("postgres", server, filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	if err := pg.Proc.WaitTCP(net.JoinHostPort(pg.Host, strconv.Itoa(port)), pgStartTimeout); err != nil {
		return fail(err)
	}
	if err := pg.waitReady(pgStartTimeout); err != nil {
		return fail(err)
	}
	return pg, nil
}

// waitReady polls pg_isready until the server accepts connections (it listens before it
// has finished starting up).
func (pg *Postgres) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if pg.Proc.Exited() {
			return fmt.Errorf("postgres exited during start-up:\n%s", pg.Proc.Log())
		}
		cmd := exec.Command(filepath.Join(pg.BinDir, "pg_isready"), "-q", "-t", "2",
			"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User, "-d", "postgres")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		last = strings.TrimSpace(err.Error() + " " + string(out))
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postgres on %s:%d not ready within %s (pg_isready: %s)\n%s", pg.Host, pg.Port, timeout, last, pg.Proc.Log())
}

// URL is a connection URL for the superuser, e.g.
// postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable.
func (pg *Postgres) URL() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pg.User, pg.Password),
		Host:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop stops the server by PID (process group) and removes the cluster directory.
func (pg *Postgres) Stop() {
	if pg == nil {
		return
	}
	if pg.Proc != nil {
		_ = pg.Proc.Stop()
	}
	if pg.root != "" {
		_ = os.RemoveAll(pg.root)
	}
}

// checkTraversable reports an error if a user uid/gid cannot reach dir: every directory
// from / down to dir needs search (x) permission for it.
func checkTraversable(dir string, uid, gid int) error {
	var bad []string
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0
		if st, isUnix := fi.Sys().(*syscall.Stat_t); isUnix {
			ok = ok || (int(st.Uid) == uid && mode&0o100 != 0) || (int(st.Gid) == gid && mode&0o010 != 0)
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s (%v)", p, mode))
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	if len(bad) > 0 {
		return errors.New("postgres: the server's user cannot reach its data dir through " + strings.Join(bad, ", ") + "; set TMPDIR to a directory it can reach")
	}
	return nil
}
