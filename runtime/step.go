package runtime

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// stepBuiltin implements step(title): it opens the next numbered step. Records, progress
// and errors are grouped under it.
func (r *Run) stepBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var title string
	if err := starlark.UnpackPositionalArgs(fn.Name(), args, kwargs, 1, &title); err != nil {
		return nil, err
	}
	if err := r.settle(); err != nil {
		return nil, err
	}
	title = strings.TrimSpace(title)
	if title == "" {
		return nil, fmt.Errorf("step: title must not be empty")
	}
	r.steps = append(r.steps, Step{Number: len(r.steps) + 1, Title: title, Pos: callerPos(thread)})
	r.stepNo = len(r.steps)
	r.progress.step(r.steps[r.stepNo-1])
	return starlark.MakeInt(r.stepNo), nil
}
