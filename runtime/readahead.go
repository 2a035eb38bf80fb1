package runtime

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
)

// Reads ahead ("asynchronous reads, ordered diffs"). A live plan of thousands of
// resources spends its time waiting for one GET after another. So a resource that
// declares Resource.AsyncResult is read on a per-server pool (at most
// Options.Parallelism reads in flight per server) while the script goes on: Converge
// queues the read and returns AsyncResult at once. Everything else a Converge does
// (the diff, the record, warnings, a failure) happens later on the script's goroutine,
// in script order, when the run settles the queue: before any other builtin, any
// synchronous Converge, Query or Effect, step(), print(), fail() and a warning, and at
// the end of the run. The plan is therefore the one a sequential run makes, byte for
// byte: the first read (in script order) that finds a server unreachable marks it, and
// every later read of it is unread, whatever the pool found; the first read that fails
// ends the run with its own error and Starlark backtrace, and nothing after it is
// recorded.
//
// Only a live plan reads ahead. An apply, an offline plan, a destroy and
// --parallelism 1 converge one by one, as before; so does a resource whose change
// blocks later reads (Resource.Pending), since what it blocks must be known at once.

// DefaultParallelism is how many reads a live plan has in flight per server unless
// Options.Parallelism says otherwise (terraform's default too).
const DefaultParallelism = 10

// queuedPerWorker bounds the queue: at most this many reads per allowed in flight wait
// before the script waits for the oldest. It keeps memory flat for scripts of any size
// while the pool always has work.
const queuedPerWorker = 8

// readAhead is a run's queue of reads ahead, oldest first.
type readAhead struct {
	ctx    context.Context // the run's, cancelled when the run ends
	cancel context.CancelFunc
	limit  int
	queue  []*aheadRead
	// builtins are the builtins that have queued a read: their next calls skip the
	// settle every other builtin call begins with.
	builtins map[string]bool
	failed   *aheadFailure
	// settling is set while a queued Converge is finished: what its Diff or record
	// calls (a warning) must not settle the next ones before it is done.
	settling bool
	// reading counts the pools' goroutines: none outlives the run.
	reading sync.WaitGroup
}

// aheadRead is one queued Converge.
type aheadRead struct {
	res   Resource
	at    callSite
	stack starlark.CallStack // for the failure's backtrace
	done  chan struct{}      // closed when the read is over, or was never started

	read bool // the pool read it: v, fp, err are its answer
	v    any
	fp   Fingerprint
	err  error
}

// aheadFailure is the first queued Converge that failed: its error, with the backtrace
// of the call that queued it. It ends the run.
type aheadFailure struct {
	eval  *starlark.EvalError
	cause error
}

func newReadAhead(ctx context.Context, opts Options) *readAhead {
	n := opts.Parallelism
	if n == 0 {
		n = DefaultParallelism
	}
	if opts.Mode != Plan || opts.Offline || opts.Destroy || n <= 1 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	return &readAhead{ctx: ctx, cancel: cancel, limit: n, builtins: map[string]bool{}}
}

// Parallelism is how many reads this run may have in flight per server: Options'
// Parallelism in a live plan, 1 in a run that does not read ahead. A module sizes its
// client's pool of kept-alive connections with it.
func (r *Run) Parallelism() int {
	if r.ahead == nil {
		return 1
	}
	return r.ahead.limit
}

// readsAhead says whether Converge may queue res.
func (r *Run) readsAhead(res Resource) bool {
	return r.ahead != nil && res.AsyncResult != nil && res.Pending == "" && res.Server != nil
}

// convergeAhead queues res (see readsAhead) and returns its AsyncResult.
func (r *Run) convergeAhead(thread *starlark.Thread, res Resource) (starlark.Value, error) {
	a := r.ahead
	if err := r.settleDone(); err != nil {
		return nil, err
	}
	a.builtins[builtinName(thread)] = true
	q := &aheadRead{res: res, at: r.here(thread), stack: thread.CallStack(), done: make(chan struct{})}
	s := res.Server
	// What readLive decides before reading, decided now; whether the server answers is
	// decided again when the read is settled.
	if res.Unknown == "" && res.Read != nil && !s.unreachable && (res.Unblocked || s.blocked == "") {
		s.enqueue(a, q)
	} else {
		close(q.done)
	}
	a.queue = append(a.queue, q)
	for len(a.queue) > queuedPerWorker*a.limit {
		if err := r.settleFirst(); err != nil {
			return nil, err
		}
	}
	return res.AsyncResult, nil
}

// enqueue hands q to the server's pool: at most Parallelism goroutines read its queue,
// first queued first read, so that the oldest read (the next to settle) never waits
// behind later ones.
func (s *Server) enqueue(a *readAhead, q *aheadRead) {
	s.poolMu.Lock()
	if s.reading < a.limit {
		s.reading++
		s.poolMu.Unlock()
		a.reading.Add(1)
		go s.work(a, q)
		return
	}
	s.waiting = append(s.waiting, q)
	s.poolMu.Unlock()
}

// work reads q, then whatever waits in the server's queue, until it is empty.
func (s *Server) work(a *readAhead, q *aheadRead) {
	defer a.reading.Done()
	for q != nil {
		s.readAhead(a, q)
		s.poolMu.Lock()
		q = nil
		if len(s.waiting) > 0 {
			q = s.waiting[0]
			s.waiting[0] = nil
			s.waiting = s.waiting[1:]
		} else {
			s.reading--
		}
		s.poolMu.Unlock()
	}
}

// readAhead runs q's read, on one of the server's pool goroutines.
func (s *Server) readAhead(a *readAhead, q *aheadRead) {
	defer close(q.done)
	// A server that did not answer a read, or a cancelled run: leave the read to the
	// settle, which does it in order (or skips it) as a sequential plan would.
	if s.down.Load() || a.ctx.Err() != nil {
		return
	}
	q.v, q.fp, q.err = s.readRetrying(a.ctx, q.res.Read)
	q.read = true
	if q.err != nil && IsUnreachable(q.err) {
		s.down.Store(true)
	}
}

// settle finishes every queued Converge, in order. It returns the first failure, as a
// *starlark.EvalError with the backtrace of the call that queued it; that failure also
// ends the run (exec reports it, whatever the script did after).
func (r *Run) settle() error {
	a := r.ahead
	if a == nil || a.settling {
		return nil
	}
	for len(a.queue) > 0 {
		if err := r.settleFirst(); err != nil {
			return err
		}
	}
	if a.failed != nil {
		return a.failed.eval
	}
	return nil
}

// settleDone finishes the queued Converges whose reads are over, oldest first, up to
// the first still in flight.
func (r *Run) settleDone() error {
	a := r.ahead
	if a.failed != nil {
		return a.failed.eval
	}
	for len(a.queue) > 0 {
		select {
		case <-a.queue[0].done:
		default:
			return nil
		}
		if err := r.settleFirst(); err != nil {
			return err
		}
	}
	return nil
}

// settleFirst waits for the oldest queued read and finishes its Converge.
func (r *Run) settleFirst() error {
	a := r.ahead
	if a.failed != nil {
		return a.failed.eval
	}
	q := a.queue[0]
	a.queue[0] = nil
	a.queue = a.queue[1:]
	<-q.done
	a.settling = true
	defer func() { a.settling = false }()
	res, s := q.res, q.res.Server
	var live Live
	var err error
	switch {
	case res.Unknown != "" || res.Read == nil || s.unreachable || (!res.Unblocked && s.blocked != ""):
		// Not to be read (or no longer: an earlier read found the server unreachable).
		live, err = r.readLive(s, res.Unknown, res.Unblocked, res.Read)
	case !q.read:
		// Not read: the server went down under another read, or the run was cancelled.
		// Read it now, as a sequential plan would have.
		live, err = r.readLive(s, "", res.Unblocked, res.Read)
	default:
		live, err = r.liveFrom(s, q.v, q.fp, q.err)
	}
	if _, err = r.finishConverge(q.at, res, live, err); err != nil {
		r.failAhead(q, err)
		return a.failed.eval
	}
	return nil
}

// failAhead records the run's failure and stops what is still in flight.
func (r *Run) failAhead(q *aheadRead, err error) {
	a := r.ahead
	a.failed = &aheadFailure{eval: &starlark.EvalError{Msg: err.Error(), CallStack: q.stack}, cause: err}
	a.queue = nil // what was queued after it is dropped: nothing after a failure is recorded
	a.cancel()
	// A builtin that swallows the error it got from settle must not let the script
	// go on: the next Starlark step fails, and exec reports this failure instead.
	r.thread.Cancel(err.Error())
}

// endAhead settles what is left at the end of the run and stops the pool. The failure of
// a queued read (now or earlier) replaces the script's own error, which came later.
func (r *Run) endAhead(scriptErr error) error {
	a := r.ahead
	if a == nil {
		return scriptErr
	}
	if scriptErr == nil || a.failed == nil {
		// A script error after queued reads: the reads came first, settle them; if one
		// fails, its failure is the run's.
		_ = r.settle()
	}
	a.cancel()
	a.reading.Wait() // the reads dropped after a failure stop (cancelled), before cleanup runs
	if a.failed != nil {
		return a.failed
	}
	return scriptErr
}

func (f *aheadFailure) Error() string { return f.eval.Msg }
func (f *aheadFailure) Unwrap() error { return f.cause }

// failedAhead says whether a queued read has failed: the run is over, and nothing more
// is printed, warned or recorded.
func (r *Run) failedAhead() bool { return r.ahead != nil && r.ahead.failed != nil }

// settleQuietly settles where no error can be returned (print, a warning, a server's
// state asked by a builtin): a failure is kept, and ends the run at the next step.
func (r *Run) settleQuietly() { _ = r.settle() }

// Retries of reads ahead: a server that answers a burst of concurrent reads with 429 or
// 5xx is overloaded, not broken. Each read ahead that the server's classifier
// (Server.Retryable) calls retryable is tried again, up to retryAttempts times in all,
// after a pause doubling from retryFirst up to retryCap with jitter, or as long as the
// server asked (Retry-After, see NoteRetryAfter), up to retryAfterCap. A read that still fails fails the
// plan with the server's last answer. A sequential read is never retried: its failure
// is reported at once, as before.
const (
	retryAttempts = 5
	retryFirst    = 50 * time.Millisecond
	retryCap      = 2 * time.Second
	retryAfterCap = 10 * time.Second
)

// Retryable sets the server's classifier of read errors: whether err is worth another
// try (429, 5xx). Without one, no read is retried.
func (s *Server) Retryable(fn func(err error) bool) { s.retryable = fn }

// NoteRetryAfter is for a module's HTTP transport: it hands the Retry-After header of
// an answer (seconds, or an HTTP date) to the read ahead that ctx belongs to, which
// waits that long before its retry. Elsewhere it does nothing.
func NoteRetryAfter(ctx context.Context, header string) {
	slot, _ := ctx.Value(retryAfterKey{}).(*atomic.Int64)
	if slot == nil || header == "" {
		return
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(header)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(header); err == nil {
		d = time.Until(t)
	}
	slot.Store(int64(max(d, 0)))
}

type retryAfterKey struct{}

func (s *Server) readRetrying(ctx context.Context, read ReadFunc) (any, Fingerprint, error) {
	after := new(atomic.Int64)
	ctx = context.WithValue(ctx, retryAfterKey{}, after)
	pause := retryFirst
	for attempt := 1; ; attempt++ {
		after.Store(0)
		v, fp, err := read(ctx)
		if err == nil || s.retryable == nil || attempt == retryAttempts || ctx.Err() != nil || !s.retryable(err) {
			return v, fp, err
		}
		wait := pause/2 + rand.N(pause/2+1) // jitter: concurrent reads do not retry in step
		if d := time.Duration(after.Load()); d > 0 {
			wait = min(d, retryAfterCap)
		}
		select {
		case <-ctx.Done():
			return v, fp, err
		case <-time.After(wait):
		}
		pause = min(2*pause, retryCap)
	}
}

// settling wraps a builtin so that it settles the queue before it runs: what it reads
// or changes comes after the Converges queued before it, as in a sequential plan. A
// builtin that has queued a read ahead (it declared Resource.AsyncResult, and with it
// that it is safe to call with reads in flight) skips it: its synchronous Converge, if
// it makes one, settles anyway.
func (r *Run) settling(b *starlark.Builtin) *starlark.Builtin {
	if r.ahead == nil {
		return b
	}
	return starlark.NewBuiltin(b.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if !r.ahead.builtins[b.Name()] {
			if err := r.settle(); err != nil {
				return nil, err
			}
		}
		return b.CallInternal(thread, args, kwargs)
	})
}

// settlingAll wraps every builtin of a module value (see settling).
func (r *Run) settlingAll(v starlark.Value) starlark.Value {
	if r.ahead == nil {
		return v
	}
	return mapBuiltins(v, r.settling)
}
