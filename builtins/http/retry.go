package http

import (
	"context"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// backoff is the pause before attempt n (n >= 1): doubling from firstBackoff, capped.
func backoff(n int) time.Duration {
	d := firstBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// retry sends the request until its answer is as expected or req.retry has passed. It
// goes through Run.Wait so that progress shows what the last attempt saw. The final
// error says what was last seen: the status and a short, redacted body excerpt, or the
// connection error.
func (m *httpModule) retry(thread *starlark.Thread, req *request) (starlark.Value, error) {
	var result starlark.Value
	var last error
	attempts := 0
	err := m.run.Wait(thread, runtime.WaitSpec{
		What:    fmt.Sprintf("%s %s", req.method, req.shownURL),
		Timeout: req.retry,
		// The backoff is slept inside Poll, growing with each attempt; Run.Wait's own fixed
		// interval is reduced to a token pause.
		Interval: time.Millisecond,
		Poll: func(ctx context.Context) (bool, string, error) {
			if attempts > 0 {
				select {
				case <-ctx.Done():
					return false, last.Error(), nil
				case <-time.After(backoff(attempts)):
				}
			}
			attempts++
			v, err := m.attempt(ctx, req)
			if err == nil {
				result = v
				return true, "", nil
			}
			if runtime.IsTLSError(err) {
				return false, "", err // a bad certificate is an answer; waiting will not change it
			}
			// An attempt cut short by the retry deadline says less than the one before it.
			if last == nil || ctx.Err() == nil {
				last = err
			}
			return false, last.Error(), nil
		},
	})
	if err != nil {
		if m.run.Context().Err() == nil && last != nil {
			return nil, fmt.Errorf("not as expected after %s (%d attempts); last: %w", runtime.ShortDuration(m.run.WaitTimeout(req.retry)), attempts, last)
		}
		return nil, err
	}
	return result, nil
}
