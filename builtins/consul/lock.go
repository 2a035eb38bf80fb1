package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"golang.org/x/net/http/httpproxy"

	"github.com/nvrun/nvrun/runtime"
)

// lockSessionTTL is the TTL of the session that holds a Consul lock. It is renewed
// every half TTL while the apply runs; a killed apply's session expires within about
// twice the TTL, and Consul then refuses the key for its lock-delay (15 s by default).
const lockSessionTTL = "15s"

// Lock is --lock consul:KEY: a Consul session lock on KEY (consul/api's Lock, the
// mechanism of `consul lock` and of terraform's consul backend), so operators on
// different machines take turns too. KEY's value says who holds it.
type Lock struct {
	key string
	env func(string) string
}

// NewLock is the lock on key of the Consul that env (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
// TLS variables) points at.
func NewLock(env func(string) string, key string) (*Lock, error) {
	key = strings.Trim(key, "/")
	if key == "" {
		return nil, errors.New("--lock consul:KEY needs a KEY, e.g. consul:nvrun/guide/lock")
	}
	return &Lock{key: key, env: env}, nil
}

func (l *Lock) String() string { return fmt.Sprintf("Consul lock %q", l.key) }

func (l *Lock) Lock(ctx context.Context, holder runtime.LockHolder, wait time.Duration) (func(context.Context) error, error) {
	c, addr, err := newClient(l.env, envProxy(l.env), nil, 1)
	if err != nil {
		return nil, err
	}
	sessions := c.Session()
	// The create is not cut off by an interrupt: Consul may have made the session by
	// then, and the answer carrying its ID is needed to destroy it again.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	id, _, err := sessions.Create(&api.SessionEntry{
		Name: "nvrun apply lock " + l.key, TTL: lockSessionTTL, Behavior: api.SessionBehaviorRelease,
	}, (&api.WriteOptions{}).WithContext(cctx))
	if err != nil {
		return nil, fmt.Errorf("%s: cannot create a session at %s: %w", l, addr, err)
	}
	destroy := func(ctx context.Context) error {
		_, err := sessions.Destroy(id, (&api.WriteOptions{}).WithContext(ctx))
		return err
	}
	if ctx.Err() != nil {
		destroy(cctx)
		return nil, ctx.Err()
	}
	value, _ := json.Marshal(holder)
	if wait <= 0 {
		wait = time.Nanosecond // LockTryOnce: one try; 0 would mean Consul's default 15 s
	}
	lock, err := c.LockOpts(&api.LockOptions{
		Key: l.key, Value: value, Session: id, LockTryOnce: true, LockWaitTime: wait,
	})
	if err != nil {
		destroy(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	renewDone := make(chan struct{})
	go sessions.RenewPeriodic(lockSessionTTL, id, nil, renewDone)
	held, err := lock.Lock(ctx.Done())
	if held == nil {
		close(renewDone)
		destroy(context.WithoutCancel(ctx))
		switch {
		case errors.Is(err, api.ErrLockConflict):
			return nil, fmt.Errorf("%s: the key is there but is not a lock (it holds other data); pick another KEY", l)
		case err != nil:
			return nil, fmt.Errorf("%s at %s: %w", l, addr, err)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, &runtime.LockedError{Lock: l.String(), Holder: l.holder(c)}
	}
	return func(ctx context.Context) error {
		err := lock.Unlock()
		close(renewDone)
		// Not left to RenewPeriodic, which destroys the session in the background: the
		// process may exit first.
		if derr := destroy(ctx); err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("releasing the %s: %w (it frees itself when its session expires)", l, err)
		}
		return nil
	}, nil
}

// holder reads who holds the lock from the key's value.
func (l *Lock) holder(c *api.Client) *runtime.LockHolder {
	pair, _, err := c.KV().Get(l.key, nil)
	if err != nil || pair == nil {
		return nil
	}
	var h runtime.LockHolder
	if json.Unmarshal(pair.Value, &h) != nil || h.Who == "" {
		return nil
	}
	return &h
}

// envProxy is the proxy function of env's HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as a
// run's builtins use (runtime.Run.Proxy); the lock is taken before a run exists.
func envProxy(env func(string) string) func(*http.Request) (*url.URL, error) {
	get := func(k string) string {
		if s := env(k); s != "" {
			return s
		}
		return env(strings.ToLower(k))
	}
	pc := &httpproxy.Config{HTTPProxy: get("HTTP_PROXY"), HTTPSProxy: get("HTTPS_PROXY"), NoProxy: get("NO_PROXY")}
	fn := pc.ProxyFunc()
	return func(req *http.Request) (*url.URL, error) { return fn(req.URL) }
}
