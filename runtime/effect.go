package runtime

import (
	"context"
	"fmt"
	"time"

	"go.starlark.net/starlark"
)

// Action is what a change does.
type Action string

const (
	Create    Action = "create"
	Update    Action = "update"
	Delete    Action = "delete"
	Call      Action = "call"      // an operation with no resource to diff (unseal, a POST)
	Read      Action = "read"      // a recorded read (creds, an SRV lookup); not a change
	Unchanged Action = "unchanged" // live state already matches
)

// IsChange says whether the action counts as a change (for --detailed-exitcode).
func (a Action) IsChange() bool {
	return a == Create || a == Update || a == Delete || a == Call
}

// Symbol is the one-character marker used in plan text, as terraform does.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	case Call:
		return "!"
	case Read:
		return "<="
	}
	return "="
}

// DiffLine is one field of a change's diff. Builtins put Redacted (or use DiffValue)
// for sensitive fields; the redactor is a second net, not the first.
type DiffLine struct {
	Op     string `json:"op"` // "+", "-", "~"
	Key    string `json:"key"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Change is what a builtin hands to Run.Effect.
type Change struct {
	Address string // e.g. `vault policy "nomad-server"`
	Action  Action
	Summary string     // a short phrase shown after the address
	Diff    []DiffLine // field-level before/after
	Notes   []string   // extra lines (e.g. a preflight check's verdict)

	// Apply performs the change and returns the builtin's result. Nil means the change
	// has no work (Unchanged) or the result is None.
	Apply func(ctx context.Context) (starlark.Value, error)
	// SafeInPlan lets Apply run during a live (not offline) plan: for reads that the
	// plan needs, such as an HTTP GET.
	SafeInPlan bool
	// Planned is returned in plan mode instead of running Apply. Nil means an Unknown
	// originating from this builtin call.
	Planned starlark.Value
}

// Record is one entry of the run's record: what was planned or done.
type Record struct {
	Step            int        `json:"-"`
	Address         string     `json:"address"`
	Action          Action     `json:"action"`
	Status          string     `json:"status"` // planned, applied, unchanged, read, failed
	Summary         string     `json:"summary,omitempty"`
	Diff            []DiffLine `json:"diff,omitempty"`
	Notes           []string   `json:"notes,omitempty"`
	Builtin         string     `json:"builtin"`
	Position        string     `json:"position"`
	KnownAfterApply bool       `json:"known_after_apply,omitempty"`
	Error           string     `json:"error,omitempty"`
	DurationMS      *int64     `json:"duration_ms,omitempty"`

	// Fingerprint is what the read behind this record saw (Run.Converge, Run.Query), for
	// saved plans that refuse stale state; Delete undoes the resource, for destroy. Neither
	// is part of the --json record yet.
	Fingerprint Fingerprint                     `json:"-"`
	Delete      func(ctx context.Context) error `json:"-"`
}

// Effect records a change and, in apply mode (or for a SafeInPlan read in a live plan),
// performs it. It is the only way a builtin changes the world.
func (r *Run) Effect(thread *starlark.Thread, c Change) (starlark.Value, error) {
	if err := r.settle(); err != nil {
		return nil, err
	}
	if r.destroy {
		// A change with no resource behind it has nothing a destroy could undo, and a
		// destroy makes no change of its own.
		return r.Unknown(thread), nil
	}
	v, _, err := r.effect(thread, c)
	return v, err
}

// callSite is where the script called a builtin: what its records and unknowns name.
// A read ahead captures it at the call, and records it when settled.
type callSite struct {
	step         int
	builtin, pos string
}

func (r *Run) here(thread *starlark.Thread) callSite {
	return callSite{step: r.stepNo, builtin: builtinName(thread), pos: callerPos(thread)}
}

// effect is Effect, also returning the record it made.
func (r *Run) effect(thread *starlark.Thread, c Change) (starlark.Value, *Record, error) {
	return r.effectAt(r.here(thread), c)
}

func (r *Run) effectAt(at callSite, c Change) (starlark.Value, *Record, error) {
	rec := &Record{
		Step:     at.step,
		Address:  c.Address,
		Action:   c.Action,
		Summary:  c.Summary,
		Diff:     c.Diff,
		Notes:    c.Notes,
		Builtin:  at.builtin,
		Position: at.pos,
	}
	r.records = append(r.records, rec)

	if c.Action == Unchanged {
		rec.Status = "unchanged"
		r.progressRecord(rec)
		if c.Planned != nil {
			return c.Planned, rec, nil
		}
		return starlark.None, rec, nil
	}

	perform := r.mode == Apply || (c.SafeInPlan && !r.offline)
	if !perform || c.Apply == nil {
		rec.Status = "planned"
		if r.mode == Apply && c.Apply == nil {
			rec.Status = statusDone(c.Action)
		}
		v := c.Planned
		if v == nil {
			if c.Apply == nil {
				v = starlark.None
			} else {
				v = &Unknown{run: r, origin: at.builtin, pos: at.pos}
			}
		}
		rec.KnownAfterApply = IsUnknown(v)
		return v, rec, nil
	}

	if err := r.ctx.Err(); err != nil {
		return nil, rec, fmt.Errorf("%s: not started: %w", c.Address, err)
	}
	start := time.Now()
	v, err := c.Apply(r.ctx)
	ms := time.Since(start).Milliseconds()
	if r.mode == Apply {
		rec.DurationMS = &ms
	}
	if err != nil {
		rec.Status = "failed"
		rec.Error = r.redactor.Redact(err.Error())
		r.progressDone(rec)
		return nil, rec, fmt.Errorf("%s%s: %w", r.stepContext(), c.Address, err)
	}
	rec.Status = statusDone(c.Action)
	r.progressDone(rec)
	if v == nil {
		v = starlark.None
	}
	return v, rec, nil
}

func statusDone(a Action) string {
	if a == Read {
		return "read"
	}
	return "applied"
}

// stepContext names the current step for error messages.
func (r *Run) stepContext() string {
	if r.stepNo == 0 {
		return ""
	}
	return fmt.Sprintf("step %d (%s): ", r.stepNo, r.steps[r.stepNo-1].Title)
}

// Context is the run's context: cancelled on SIGINT or --timeout.
func (r *Run) Context() context.Context { return r.ctx }

// Mode is plan or apply.
func (r *Run) Mode() Mode { return r.mode }

// Offline says reads must not contact any server: an --offline plan, or the preflight
// that runs before an apply. Builtins then return Unknown values for live state.
func (r *Run) Offline() bool { return r.offline }

// Records returns the run's records in order.
func (r *Run) Records() []*Record {
	r.settleQuietly()
	return r.records
}
