package runtime

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"
)

// Settle is for a builtin that has just recorded an Unchanged change (Effect) and must
// still, in apply mode only, wait until what is already as asked has settled: a job
// registered by an interrupted run becoming healthy, say. It writes nothing. fn's error
// fails that record, with the step as context, so an unchanged thing that never settles
// does not pass as done; fn's value, if not nil, replaces the builtin's result. A plan
// does not call fn, and returns (nil, nil).
func (r *Run) Settle(fn func(ctx context.Context) (starlark.Value, error)) (starlark.Value, error) {
	if r.mode != Apply || len(r.records) == 0 {
		return nil, nil
	}
	rec := r.records[len(r.records)-1]
	if r.ctx.Err() != nil {
		return nil, fmt.Errorf("%s%s: not started: %w", r.stepContext(), rec.Address, context.Cause(r.ctx))
	}
	v, err := fn(r.ctx)
	if err != nil {
		rec.Status = "failed"
		rec.Error = r.redactor.Redact(err.Error())
		r.progressDone(rec)
		return nil, fmt.Errorf("%s%s: %w", r.stepContext(), rec.Address, err)
	}
	return v, nil
}
