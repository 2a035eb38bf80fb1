package runtime

import (
	"context"
	"fmt"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Destroy: the script is run again, but every resource it declares is undone instead of
// converged, as `nomad setup vault -destroy` undoes what `nomad setup vault` made. The
// runtime alone knows it is destroying; builtins declare Delete and never ask.
//
//   - Converge of a resource with a Delete reads it and, if Read finds it present,
//     records a "delete" (absent: nothing). It writes nothing while the script runs; the
//     value handed back to the script is Unknown.
//   - A resource without a Delete (vault.init, vault.unseal) converges as usual: later
//     reads need an unsealed Vault and a login. They are never undone.
//   - A recorded Query (reads, waits, HTTP checks, calls) is skipped: Unknown, no
//     record. A plain one (vault.login's lookup, the token in use) still reads, as a
//     plan does, so that later reads authenticate and find what to delete.
//   - keep=True on a resource builtin exempts its resources.
//   - Apply then performs the recorded deletes in reverse order of the script: the
//     job before the token it uses, the token before its policy.

// keepKwarg is the keyword every resource builtin accepts (and the runtime strips).
const keepKwarg = "keep"

const keptSummary = "kept (keep=True)"

// destroyConverge is Converge in a destroy run, for a resource with a Delete.
func (r *Run) destroyConverge(thread *starlark.Thread, res Resource) (starlark.Value, error) {
	if r.keep {
		rec := &Record{Step: r.stepNo, Address: res.Address, Action: Unchanged, Status: "unchanged",
			Summary: keptSummary, Builtin: builtinName(thread), Position: callerPos(thread)}
		r.records = append(r.records, rec)
		return r.Unknown(thread), nil
	}
	read := res.Read
	if exists := res.Exists; exists != nil {
		read = func(ctx context.Context) (any, Fingerprint, error) {
			ok, err := exists(ctx)
			if !ok || err != nil {
				return nil, "", err
			}
			return true, "", nil
		}
	}
	live, err := r.readLive(res.Server, res.Unknown, res.Unblocked, read)
	if err != nil {
		return nil, r.readFailed(thread, res.Address, err)
	}
	switch {
	case read == nil || live.Unread == UnreadUnknown:
		// Nothing to read (no token in use to look up), or an address known only
		// after a skipped read: nothing is known to delete.
		return r.Unknown(thread), nil
	case live.Known() && live.Value == nil:
		return r.Unknown(thread), nil // absent: nothing to undo
	}
	rec := &Record{Step: r.stepNo, Address: res.Address, Action: Delete, Status: "planned",
		Builtin: builtinName(thread), Position: callerPos(thread),
		Fingerprint: live.Fingerprint, Delete: res.Delete}
	if !live.Known() {
		rec.Summary = "if present"
		rec.Notes = []string{"not read: " + string(live.Unread)}
	}
	r.records = append(r.records, rec)
	return r.Unknown(thread), nil
}

// applyDeletes performs a destroy's recorded deletes, last first. It stops at the first
// failure: what is left is still present, so a plain re-run carries on from there.
func (r *Run) applyDeletes() error {
	for i := len(r.records) - 1; i >= 0; i-- {
		rec := r.records[i]
		if rec.Action != Delete || rec.Status != "planned" || rec.Delete == nil {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("%s: not started: %w", rec.Address, err)
		}
		start := time.Now()
		err := rec.Delete(r.ctx)
		ms := time.Since(start).Milliseconds()
		rec.DurationMS = &ms
		if err != nil {
			rec.Status, rec.Error = "failed", r.redactor.Redact(err.Error())
			r.progressDone(rec)
			return fmt.Errorf("%s%s: %w", r.stepOf(rec.Step), rec.Address, err)
		}
		rec.Status = "applied"
		r.progressDone(rec)
	}
	return nil
}

func (r *Run) stepOf(n int) string {
	if n == 0 || n > len(r.steps) {
		return ""
	}
	return fmt.Sprintf("step %d (%s): ", n, r.steps[n-1].Title)
}

// withKeep wraps a module's builtins so that each accepts keep=True|False: the runtime
// takes it off the arguments, so no builtin unpacks it, and Converge honours it. keep=True
// on a builtin that declares no resource is an error, not a silent no-op.
func (r *Run) withKeep(v starlark.Value) starlark.Value {
	return mapBuiltins(v, func(b *starlark.Builtin) *starlark.Builtin {
		return starlark.NewBuiltin(b.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			keep, given := false, false
			rest := kwargs[:0:0]
			for _, kv := range kwargs {
				if k, _ := starlark.AsString(kv[0]); k == keepKwarg {
					bv, ok := kv[1].(starlark.Bool)
					if !ok {
						return nil, fmt.Errorf("%s: keep: want True or False, not %s", b.Name(), kv[1].Type())
					}
					keep, given = bool(bv), true
					continue
				}
				rest = append(rest, kv)
			}
			if !given {
				return b.CallInternal(thread, args, kwargs)
			}
			outer, converged := r.keep, r.converged
			r.keep, r.converged = keep, 0
			defer func() { r.keep, r.converged = outer, converged+r.converged }()
			v, err := b.CallInternal(thread, args, rest)
			if err == nil && keep && r.converged == 0 {
				return nil, fmt.Errorf("%s: keep=True is for builtins that make something to destroy; %s makes nothing", b.Name(), b.Name())
			}
			return v, err
		})
	})
}

// mapBuiltins applies f to a builtin, or to every builtin member of a module.
func mapBuiltins(v starlark.Value, f func(*starlark.Builtin) *starlark.Builtin) starlark.Value {
	switch v := v.(type) {
	case *starlark.Builtin:
		return f(v)
	case *starlarkstruct.Module:
		members := make(starlark.StringDict, len(v.Members))
		for k, m := range v.Members {
			members[k] = mapBuiltins(m, f)
		}
		return &starlarkstruct.Module{Name: v.Name, Members: members}
	}
	return v
}
