package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
)

// Resources: a builtin declares, for one address, how to Read it, how to Diff the wanted
// value against the live one, how to Write it and how to Delete it. The runtime alone
// decides which of those run: an offline plan reads nothing, a live plan reads and
// diffs, an apply reads, diffs and writes; a server that does not answer a plan's read
// turns the rest of that module's plan offline, with one warning. Builtins never ask
// which mode they run in. This is the shape of terraform's providers (ReadResource,
// PlanResourceChange, ApplyResourceChange), on a scale of one call per address.

// Fingerprint identifies what a Read saw, so that a later re-read can tell whether the
// live state moved: a server's modify index where it has one, else a hash of the
// normalised answer. Absent is the fingerprint of "there is no such resource".
type Fingerprint string

// Absent is the fingerprint of a resource that does not exist.
const Absent Fingerprint = "absent"

// IndexFingerprint is the fingerprint of an object with a server-side modify index
// (Consul's ModifyIndex, Nomad's JobModifyIndex).
func IndexFingerprint(index uint64) Fingerprint {
	return Fingerprint("index:" + strconv.FormatUint(index, 10))
}

// HashFingerprint is the fingerprint of a normalised answer: a SHA-256 of its JSON
// encoding (encoding/json sorts map keys, so equal answers hash equal). Only exported
// struct fields are encoded: pass a map or a struct with exported fields.
func HashFingerprint(v any) Fingerprint {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf("%#v", v))
	}
	sum := sha256.Sum256(b)
	return Fingerprint("sha256:" + hex.EncodeToString(sum[:12]))
}

// Unread says why a resource's live state was not read ("" when it was).
type Unread string

const (
	NotUnread         Unread = ""
	UnreadOffline     Unread = "offline"     // --offline, or the preflight before an apply
	UnreadUnreachable Unread = "unreachable" // the module's server did not answer this plan
	UnreadUnknown     Unread = "unknown"     // the address is known only after apply
)

// Live is what a Read saw, handed to Diff and Write.
type Live struct {
	// Value is what Read returned; nil means the resource does not exist (or was not read).
	Value       any
	Fingerprint Fingerprint
	// Unread is why nothing was read: UnreadOffline, UnreadUnreachable, UnreadUnknown,
	// or the reason a pending change blocks reads (Server.Pending), e.g. "not logged in
	// until apply". Diff then plans without knowing the live state.
	Unread Unread
}

// Known says whether the live state was read.
func (l Live) Known() bool { return l.Unread == NotUnread }

// Pending says whether reads were blocked by a pending change (not offline, unreachable
// or an unknown address): the reason is l.Unread.
func (l Live) Pending() bool {
	switch l.Unread {
	case NotUnread, UnreadOffline, UnreadUnreachable, UnreadUnknown:
		return false
	}
	return true
}

// ReadFunc reads one resource: its live value (nil if absent) and a fingerprint.
type ReadFunc func(ctx context.Context) (any, Fingerprint, error)

// Resource is one address a builtin converges.
type Resource struct {
	// Server is the module's server this resource lives on (Run.Server); nil for local
	// things such as files, which are always readable.
	Server  *Server
	Address string
	// Unknown, when set, is the text of a value known only after apply that the
	// resource's address depends on: nothing can be read before apply.
	Unknown string
	// Read reads the live state. Nil means there is nothing to read.
	Read ReadFunc
	// Unblocked lets Read run while a pending change blocks the server's other reads
	// (e.g. Vault's seal status, which needs no token).
	Unblocked bool
	// Diff compares what the script wants with live and says what must change. Its
	// Address is filled in, and so is its Apply, from Write, when it is a change.
	Diff func(live Live) Change
	// Write makes the change (apply only). live is what Read saw just before.
	Write func(ctx context.Context, live Live) (starlark.Value, error)
	// Delete makes the resource gone, in a destroy (destroy.go). Nil means the resource
	// is never undone (vault.init) and converges as usual in a destroy too.
	Delete func(ctx context.Context) error
	// Exists, when set, replaces Read in a destroy: whether there is anything to
	// delete. For a resource whose Read returns a value also when it is absent, or
	// cannot read an absent resource (Nomad's job plan of a job Vault no longer backs).
	Exists func(ctx context.Context) (bool, error)
	// Pending, when set, is why this resource's change, planned but not yet made, blocks
	// the later reads of Server (e.g. "not logged in until apply"): the plan then plans
	// them without reading.
	Pending Unread

	// AsyncResult, when set, lets a live plan read this resource ahead (readahead.go):
	// Converge queues the read on Server's pool and returns AsyncResult at once; the
	// diff and the record follow in script order. Set it only when
	//   - AsyncResult is what Converge returns in a plan whatever the read finds (the
	//     Planned value of every Change Diff may return, e.g. starlark.None);
	//   - Read touches only state that is safe to share between goroutines, and calls
	//     no Run or Server method (a client made before, a mutex-guarded cache);
	//   - the builtin returns Converge's error as it is, and changes nothing before
	//     Converge that another read ahead uses.
	// A resource with Pending, or no Server, is never read ahead.
	AsyncResult starlark.Value
}

// Converge reads a resource, diffs it against what the script wants, records the change
// and, in apply, writes it.
func (r *Run) Converge(thread *starlark.Thread, res Resource) (starlark.Value, error) {
	r.converged++
	if r.destroy && res.Delete != nil {
		return r.destroyConverge(thread, res)
	}
	if r.readsAhead(res) {
		return r.convergeAhead(thread, res)
	}
	if err := r.settle(); err != nil {
		return nil, err
	}
	live, err := r.readLive(res.Server, res.Unknown, res.Unblocked, res.Read)
	return r.finishConverge(r.here(thread), res, live, err)
}

// finishConverge is the rest of a Converge once its read is over: the saved-plan guard,
// the diff, the record and, in apply, the write. at is where the script called it.
func (r *Run) finishConverge(at callSite, res Resource, live Live, err error) (starlark.Value, error) {
	if err == nil {
		err = r.guardSavedPlan(res.Address, live)
	}
	if err != nil {
		return nil, r.readFailedAt(at, res.Address, err)
	}
	c := res.Diff(live)
	if c.Address == "" {
		c.Address = res.Address
	}
	if c.Action != Unchanged && c.Apply == nil && res.Write != nil {
		c.Apply = func(ctx context.Context) (starlark.Value, error) { return res.Write(ctx, live) }
	}
	v, rec, err := r.effectAt(at, c)
	if rec != nil {
		rec.Fingerprint, rec.Delete = live.Fingerprint, res.Delete
		if res.Pending != "" && res.Server != nil && rec.Status == "planned" {
			res.Server.block(res.Pending)
		}
	}
	return v, err
}

// Query is a read of live state that a builtin returns to the script: a recorded read
// (consul.srv, http.get) or a plain one (consul.kv_get).
type Query struct {
	Server  *Server
	Address string
	Unknown string // see Resource.Unknown
	// Read answers the query once. A *NotYetError means "no answer now, but an earlier
	// step of the apply may bring one": a plan records the value as known only after
	// apply, an apply fails with the error.
	Read func(ctx context.Context) (Answer, error)
	// Settle, if set, replaces Read in apply: it waits (or retries) until the answer
	// holds. A plan never waits: with Read nil, it records the value as known after apply.
	Settle    func(ctx context.Context) (starlark.Value, error)
	Unblocked bool

	// Record makes the query a record of the plan (Action Read, or Call for a request
	// that may change something but is safe to send in a plan); otherwise it is a plain
	// read that records nothing.
	Record  bool
	Action  Action // Read if empty
	Summary string
	Diff    []DiffLine
	Notes   []string
}

// Answer is what a Query's Read found.
type Answer struct {
	Value       starlark.Value
	Fingerprint Fingerprint
	// Summary, if set, replaces the query's summary in a plan's record: what the read
	// found (e.g. "2 answers: 10.0.0.1:80, …").
	Summary string
}

// NotYetError is a Query's answer of "nothing yet": see Query.Read.
type NotYetError struct {
	Err     error  // what an apply reports
	Summary string // replaces the query's summary in a plan, if set
	Note    string // added to the plan's record, if set
	Warning string // warned in a plan, if set
}

func (e *NotYetError) Error() string { return e.Err.Error() }
func (e *NotYetError) Unwrap() error { return e.Err }

// Query runs a read. The value is Unknown when the read cannot happen yet (offline,
// server unreachable in a plan, a pending change, an unknown argument, or not yet).
func (r *Run) Query(thread *starlark.Thread, q Query) (starlark.Value, error) {
	if err := r.settle(); err != nil {
		return nil, err
	}
	c := Change{Address: q.Address, Action: q.Action, Summary: q.Summary, Diff: q.Diff, Notes: q.Notes}
	if c.Action == "" {
		c.Action = Read
	}
	if r.destroy && q.Record {
		return r.Unknown(thread), nil // reads, waits and checks are skipped in a destroy
	}
	var fp Fingerprint
	if r.mode == Apply && !r.destroy { // a destroy's plain reads run as a plan's do
		// Everything is known and every server must answer: the read is the change.
		switch {
		case q.Settle != nil:
			c.Apply = func(ctx context.Context) (starlark.Value, error) { return q.Settle(ctx) }
		case q.Read != nil:
			c.Apply = func(ctx context.Context) (starlark.Value, error) {
				a, err := q.Read(ctx)
				if err != nil && q.Server != nil && q.Server.patience > 0 && IsUnreachable(err) {
					// As Converge's reads do: the server may be restarting.
					var v any
					v, _, err = q.Server.await(func(ctx context.Context) (any, Fingerprint, error) {
						a, err := q.Read(ctx)
						return a, a.Fingerprint, err
					})
					a, _ = v.(Answer)
				}
				if err == nil && a.Value == nil {
					a.Value = starlark.None
				}
				fp = a.Fingerprint
				return a.Value, err
			}
		}
		if !q.Record {
			if c.Apply == nil {
				return starlark.None, nil
			}
			v, err := c.Apply(r.ctx)
			if err != nil {
				return nil, r.readFailed(thread, q.Address, err)
			}
			return v, nil
		}
		v, rec, err := r.effect(thread, c)
		if rec != nil {
			rec.Fingerprint = fp
		}
		return v, err
	}

	var answer Answer
	var read ReadFunc
	if q.Read != nil {
		read = func(ctx context.Context) (any, Fingerprint, error) {
			var err error
			answer, err = q.Read(ctx)
			if err == nil && answer.Value == nil {
				answer.Value = starlark.None
			}
			return answer.Value, answer.Fingerprint, err
		}
	}
	live, err := r.readLive(q.Server, q.Unknown, q.Unblocked, read)
	var notYet *NotYetError
	switch {
	case errors.As(err, &notYet):
		if notYet.Summary != "" {
			c.Summary = notYet.Summary
		}
		if notYet.Note != "" {
			c.Notes = append(c.Notes, notYet.Note)
		}
		if notYet.Warning != "" {
			r.Warn("%s", notYet.Warning)
		}
	case err != nil:
		return nil, r.readFailed(thread, q.Address, err)
	case live.Known():
		if !q.Record {
			return answer.Value, nil
		}
		if answer.Summary != "" {
			c.Summary = answer.Summary
		}
		c.SafeInPlan = true
		c.Apply = func(context.Context) (starlark.Value, error) { return answer.Value, nil }
		v, rec, err := r.effect(thread, c)
		if rec != nil {
			rec.Fingerprint = live.Fingerprint
		}
		return v, err
	}
	// Not read, or not yet: the value is known only after apply.
	if !q.Record {
		return r.Unknown(thread), nil
	}
	c.Apply = func(context.Context) (starlark.Value, error) { return nil, errors.New("not read") }
	v, _, err := r.effect(thread, c)
	return v, err
}

// readFailed records a read that failed (not one a plan forgives as unreachable) as a
// failed record, and names the step and the address in its error, as a failed change is.
//
// A query without an address is a builtin's own question, not a read of a resource the
// plan shows: its error goes back to the builtin as it is, unrecorded.
func (r *Run) readFailed(thread *starlark.Thread, addr string, err error) error {
	return r.readFailedAt(r.here(thread), addr, err)
}

func (r *Run) readFailedAt(at callSite, addr string, err error) error {
	if addr == "" {
		return err
	}
	rec := &Record{
		Step: at.step, Address: addr, Action: Read, Status: "failed",
		Error:   r.redactor.Redact(err.Error()),
		Builtin: at.builtin, Position: at.pos,
	}
	r.records = append(r.records, rec)
	r.progressDone(rec)
	return fmt.Errorf("%s%s: %w", r.stepContext(), addr, err)
}

// readLive runs read unless the run must not read (see Live.Unread). A server that does
// not answer a plan marks the rest of that module's plan offline, with one warning.
func (r *Run) readLive(s *Server, unknown string, unblocked bool, read ReadFunc) (Live, error) {
	switch {
	case unknown != "":
		return Live{Unread: UnreadUnknown}, nil
	case read == nil || r.offline:
		return Live{Unread: UnreadOffline}, nil
	case s != nil && s.unreachable:
		return Live{Unread: UnreadUnreachable}, nil
	case s != nil && !unblocked && s.blocked != "":
		return Live{Unread: s.blocked}, nil
	}
	if err := r.ctx.Err(); err != nil {
		return Live{}, err
	}
	v, fp, err := read(r.ctx)
	if err != nil && r.mode == Apply && s != nil && s.patience > 0 && IsUnreachable(err) {
		v, fp, err = s.await(read)
	}
	return r.liveFrom(s, v, fp, err)
}

// liveFrom is what a plan makes of a read's answer (readLive's, or one read ahead).
func (r *Run) liveFrom(s *Server, v any, fp Fingerprint, err error) (Live, error) {
	if err != nil {
		if r.mode == Plan && s != nil && IsUnreachable(err) {
			s.markUnreachable(err)
			return Live{Unread: UnreadUnreachable}, nil
		}
		return Live{}, err
	}
	if fp == "" && v == nil {
		fp = Absent
	}
	return Live{Value: v, Fingerprint: fp}, nil
}

// Server is a module's view of one server for one run: whether it answered, and which
// pending changes block its reads. Run.Server returns the same one for the same name.
type Server struct {
	run         *Run
	name        string
	unreachable bool
	blocked     Unread
	patience    time.Duration

	// Reads ahead (readahead.go): reading is how many pool goroutines read the server's
	// waiting reads, in the order queued; down is set by the first read that found the
	// server unreachable, so that the reads after it wait for the settle; retryable
	// classifies errors worth a retry.
	poolMu    sync.Mutex
	reading   int
	waiting   []*aheadRead
	down      atomic.Bool
	retryable func(error) bool
}

// Server returns the run's handle on the server a module talks to; name is the module's
// name ("consul"), which the unreachable warning shows.
func (r *Run) Server(name string) *Server {
	if s, ok := r.servers[name]; ok {
		return s
	}
	s := &Server{run: r, name: name}
	r.servers[name] = s
	return s
}

// Patience is how long an apply's read waits for the server to answer again, e.g. while
// it restarts after a config change the same apply made (0, the default: not at all).
// A plan never waits: a server that does not answer it is planned around.
func (s *Server) Patience(d time.Duration) { s.patience = d }

// await retries read while the server does not answer, for up to its patience, with a
// backoff from 100ms doubling to 2s. It returns the last attempt's result.
func (s *Server) await(read ReadFunc) (any, Fingerprint, error) {
	ctx := s.run.ctx
	deadline := time.Now().Add(s.patience)
	pause := 100 * time.Millisecond
	for {
		if time.Now().Add(pause).After(deadline) {
			pause = time.Until(deadline)
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(max(pause, 0)):
		}
		v, fp, err := read(ctx)
		if err == nil || !IsUnreachable(err) || !time.Now().Before(deadline) {
			return v, fp, err
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// Unreachable says whether a plan found the server not answering: its reads are skipped.
func (s *Server) Unreachable() bool {
	s.run.settleQuietly()
	return s.unreachable
}

// markUnreachable warns once per server, in the one wording every module shares.
func (s *Server) markUnreachable(err error) {
	s.unreachable = true
	s.run.warn("%s is unreachable (%v); the plan shows what %s would read as known only after apply", s.name, err, s.name)
}

// block records a pending change's reason; reasons accumulate in order ("; ").
func (s *Server) block(why Unread) {
	switch {
	case s.blocked == "":
		s.blocked = why
	case !containsReason(s.blocked, why):
		s.blocked += "; " + why
	}
}

func containsReason(all, one Unread) bool {
	return slices.Contains(strings.Split(string(all), "; "), string(one))
}

// Unread says why a read of the server would be skipped now ("" if it would happen):
// offline, unreachable, or blocked by a pending change. It is for reads a builtin makes
// outside Converge and Query, such as a check another module asks of it.
func (s *Server) Unread() Unread {
	s.run.settleQuietly()
	switch {
	case s.run.offline:
		return UnreadOffline
	case s.unreachable:
		return UnreadUnreachable
	}
	return s.blocked
}

// Block records that a change known only after apply (a login with a token that an
// earlier planned step returns) blocks the server's later reads in this plan, for a
// builtin that records no change of its own. An apply knows every value: it ignores it.
func (s *Server) Block(why Unread) {
	s.run.settleQuietly()
	if s.run.mode == Plan {
		s.block(why)
	}
}

// Blocked is why the server's reads wait for apply ("" if they need not).
func (s *Server) Blocked() Unread {
	s.run.settleQuietly()
	return s.blocked
}
