package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

func TestFileLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault-keys.json.lock")
	l := &runtime.FileLock{Path: path}
	me := runtime.CurrentHolder()

	release, err := l.Lock(ctx, me, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}

	// Taken: a second taker (its own open file, as another process has) is refused at
	// once, told who holds it and since when.
	_, err = (&runtime.FileLock{Path: path}).Lock(ctx, runtime.LockHolder{Who: "other@host", PID: 1}, 0)
	var held *runtime.LockedError
	if !errors.As(err, &held) || held.Holder == nil || held.Holder.PID != me.PID || held.Holder.Who != me.Who ||
		!held.Holder.Since.Equal(me.Since) {
		t.Fatalf("second Lock: %v (%+v)", err, held)
	}
	for _, want := range []string{"lock file " + path, me.Who, "since " + me.Since.Format("2006-01-02 15:04:05"), "--lock-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// A waiter gets it once it is released.
	var wg sync.WaitGroup
	var waitErr error
	var waitRelease func(context.Context) error
	wg.Add(1)
	go func() {
		defer wg.Done()
		waitRelease, waitErr = (&runtime.FileLock{Path: path}).Lock(ctx, runtime.LockHolder{Who: "waiter@host", PID: 2}, time.Hour)
	}()
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if waitErr != nil {
		t.Fatalf("waiter: %v", waitErr)
	}
	var h runtime.LockHolder
	if b, _ := os.ReadFile(path); json.Unmarshal(b, &h) != nil || h.Who != "waiter@host" {
		t.Fatalf("lock file after the waiter took it: %q", b)
	}
	if err := waitRelease(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("released lock file still there: %v", err)
	}

	// A file a killed holder left (no flock on it) is taken over.
	os.WriteFile(path, []byte(`{"who":"dead@host","pid":99999,"since":"2020-01-01T00:00:00Z"}`), 0o600)
	release, err = l.Lock(ctx, me, 0)
	if err != nil {
		t.Fatalf("stale lock file: %v", err)
	}
	release(ctx)

	// A cancelled wait stops waiting.
	release, _ = l.Lock(ctx, me, 0)
	defer release(ctx)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (&runtime.FileLock{Path: path}).Lock(cctx, me, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

// recordingLock is a Locker that records when it is taken and released, relative to
// the probe's writes.
type recordingLock struct {
	srv    *runtimetest.Server
	events []string
	refuse bool
	taken  func() // called once the lock is taken (an interrupt arriving then)
}

func (l *recordingLock) String() string { return "test lock" }

func (l *recordingLock) Lock(_ context.Context, h runtime.LockHolder, wait time.Duration) (func(context.Context) error, error) {
	if l.refuse {
		return nil, &runtime.LockedError{Lock: l.String(), Holder: &h}
	}
	l.events = append(l.events, "lock")
	if l.taken != nil {
		l.taken()
	}
	return func(context.Context) error {
		l.events = append(l.events, "release")
		return nil
	}, nil
}

func TestExecTakesTheLockForApplyOnly(t *testing.T) {
	cases := []struct {
		name   string
		mode   runtime.Mode
		src    string
		refuse bool
		cancel bool   // interrupted (SIGINT, --timeout) right after the lock is taken
		want   string // events
		err    string // a regexp the error must match; "" for none
		writes int
	}{
		{"plan takes none", runtime.Plan, `probe.put("a", "1")`, false, false, "", "", 0},
		{"apply holds it around the run", runtime.Apply, `probe.put("a", "1")`, false, false, "lock release", "", 1},
		{"released on error", runtime.Apply, "probe.put(\"a\", \"1\")\nprobe.fail(\"boom\")", false, false, "lock release", "boom", 1},
		{"released on interrupt", runtime.Apply, `probe.put("a", "1")`, false, true, "lock release", "interrupted|context canceled", 0},
		{"a preflight failure takes none", runtime.Apply, `probe.put("a", 1 + "x")`, false, false, "", "unknown binary op", 0},
		{"refused: nothing applied", runtime.Apply, `probe.put("a", "1")`, true, false, "", "another apply holds the test lock", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := runtimetest.NewServer()
			l := &recordingLock{srv: srv, refuse: c.refuse}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancel {
				l.taken = cancel
			}
			script := runtimetest.Script(t, map[string]string{"main.star": c.src})
			_, err := runtime.Exec(ctx, runtime.Options{
				Script: script, Mode: c.mode, Modules: []runtime.Module{runtimetest.Module(srv)}, Environ: []string{}, Lock: l,
			}, runtime.NewRedactor())
			if got := strings.Join(l.events, " "); got != c.want {
				t.Errorf("lock events %q, want %q", got, c.want)
			}
			if (err == nil) != (c.err == "") || (err != nil && !regexp.MustCompile(c.err).MatchString(err.Error())) {
				t.Errorf("error %v, want %q", err, c.err)
			}
			if srv.Writes() != c.writes {
				t.Errorf("%d writes, want %d", srv.Writes(), c.writes)
			}
		})
	}
}
