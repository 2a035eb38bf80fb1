package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// FileLock is the default lock: a file next to the keys file, held with flock(2). The
// kernel drops a flock when its holder dies, however it dies (SIGKILL included), so a
// killed apply never blocks the next one. The file says who holds it; it is removed on
// release, and a stale one a killed run left is simply taken over.
type FileLock struct{ Path string }

// filePoll is how often a waiting apply tries the lock file again.
const filePoll = 200 * time.Millisecond

func (l *FileLock) String() string { return "lock file " + l.Path }

func (l *FileLock) Lock(ctx context.Context, holder LockHolder, wait time.Duration) (func(context.Context) error, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := l.try(holder)
		if err == nil {
			return func(context.Context) error { return l.release(f) }, nil
		}
		if !errors.Is(err, errLockBusy) {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			return nil, &LockedError{Lock: l.String(), Holder: l.holder()}
		}
		t := time.NewTimer(min(filePoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

var errLockBusy = errors.New("lock busy")

// try takes the lock if it is free. The flock is on the file open; a file removed (by a
// releasing holder) between our open and our flock is not the lock any more, so the
// locked file must still be the one at the path, or we start again.
func (l *FileLock) try(holder LockHolder) (*os.File, error) {
	for {
		f, err := os.OpenFile(l.Path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("cannot open the %s (point --keys-file or NVRUN_KEYS_FILE elsewhere, or pick another --lock): %w", l, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, errLockBusy
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot lock the %s: %w", l, err)
		}
		locked, err1 := f.Stat()
		atPath, err2 := os.Lstat(l.Path)
		if err1 != nil || err2 != nil || !os.SameFile(locked, atPath) {
			f.Close()
			continue
		}
		data, _ := json.Marshal(holder)
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt(append(data, '\n'), 0)
		}
		if err != nil {
			l.release(f)
			return nil, fmt.Errorf("cannot write the %s: %w", l, err)
		}
		return f, nil
	}
}

// release removes the file while still holding it (so nobody takes a lock on a file
// about to vanish without noticing, see try), then drops the flock.
func (l *FileLock) release(f *os.File) error {
	err := os.Remove(l.Path)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("releasing the %s: %w", l, err)
	}
	return nil
}

// holder reads who holds the lock. A holder writes itself just after its flock, so an
// empty file is retried briefly.
func (l *FileLock) holder() *LockHolder {
	for range 5 {
		data, err := os.ReadFile(l.Path)
		if err != nil {
			return nil
		}
		var h LockHolder
		if json.Unmarshal(data, &h) == nil && h.Who != "" {
			return &h
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
