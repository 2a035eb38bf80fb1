package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"
)

// Locker is what makes applies take turns: two applies against one cluster would
// otherwise race (both mint a server token, or both initialise Vault). An apply takes
// the lock after its preflight and before its first read of live state, and holds it to
// the end; a plan takes none. Implementations: FileLock here, a Consul session lock in
// builtins/consul; cmd/nvrun picks one (--lock).
type Locker interface {
	// Lock takes the lock for holder, waiting up to wait for the holder of the moment
	// to let go. A lock still held after wait is a *LockedError. release must be
	// called once, with a context of its own (the run's may be cancelled by then).
	Lock(ctx context.Context, holder LockHolder, wait time.Duration) (release func(context.Context) error, err error)
	// String names the lock in messages: lock file vault-keys.json.lock.
	String() string
}

// LockHolder is who holds a lock, as the lock records it for whoever finds it taken.
type LockHolder struct {
	Who   string    `json:"who"` // user@host
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// CurrentHolder describes this process, taking a lock now.
func CurrentHolder() LockHolder {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return LockHolder{Who: name + "@" + host, PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)}
}

func (h LockHolder) String() string {
	return fmt.Sprintf("%s (pid %d), since %s (%s ago)", h.Who, h.PID, h.Since.UTC().Format("2006-01-02 15:04:05 MST"),
		time.Since(h.Since).Round(time.Second))
}

// LockedError is a lock someone else holds. Holder is nil when the lock did not say
// (it was taken a moment ago and its holder is not written yet).
type LockedError struct {
	Lock   string
	Holder *LockHolder
	Waited time.Duration
}

func (e *LockedError) Error() string {
	who := "a holder that has not recorded itself yet"
	if e.Holder != nil {
		who = e.Holder.String()
	}
	msg := fmt.Sprintf("another apply holds the %s: %s; nothing was applied. ", e.Lock, who)
	if e.Waited > 0 {
		return msg + fmt.Sprintf("Waited %s for it (--lock-timeout); retry when that run is done", e.Waited)
	}
	return msg + "Retry when that run is done, or wait for it with --lock-timeout (e.g. --lock-timeout 10m)"
}

// takeLock takes opts.Lock for an apply: at once if it is free, else, with a
// LockTimeout, after saying on out whom it waits for.
func takeLock(ctx context.Context, opts Options, out io.Writer) (func(context.Context) error, error) {
	holder := CurrentHolder()
	release, err := opts.Lock.Lock(ctx, holder, 0)
	var held *LockedError
	if errors.As(err, &held) && opts.LockTimeout > 0 {
		who := "its holder"
		if held.Holder != nil {
			who = held.Holder.String()
		}
		fmt.Fprintf(out, "Waiting up to %s for the %s, held by %s\n", opts.LockTimeout, opts.Lock, who)
		release, err = opts.Lock.Lock(ctx, holder, opts.LockTimeout)
		if errors.As(err, &held) {
			held.Waited = opts.LockTimeout
		}
	}
	if err != nil && ctx.Err() != nil && !errors.As(err, &held) {
		return nil, fmt.Errorf("stopped while waiting for the %s: %w", opts.Lock, ctx.Err())
	}
	if err != nil {
		return nil, err
	}
	return release, nil
}
