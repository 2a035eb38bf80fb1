package runtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// settleModule has one builtin, thing(ok), that is always Unchanged and settles to
// "settled" (ok) or fails ("not healthy"); calls counts the Settle calls.
func settleModule(calls *int) runtime.Module {
	return runtime.Module{Name: "thing", New: func(r *runtime.Run) (starlark.Value, error) {
		return starlark.NewBuiltin("thing", func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var ok bool
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "ok", &ok); err != nil {
				return nil, err
			}
			v, err := r.Effect(thread, runtime.Change{Address: "thing", Action: runtime.Unchanged, Planned: starlark.String("as planned")})
			if err != nil {
				return nil, err
			}
			settled, err := r.Settle(func(context.Context) (starlark.Value, error) {
				*calls++
				if !ok {
					return nil, errors.New("not healthy")
				}
				return starlark.String("settled"), nil
			})
			if err != nil || settled == nil {
				return v, err
			}
			return settled, nil
		}), nil
	}}
}

func TestUnchangedSettles(t *testing.T) {
	cases := []struct {
		name      string
		mode      runtime.Mode
		ok        bool
		wantCalls int
		wantOut   string // printed result
		wantErr   string
		wantState string // the record's status
	}{
		{"a plan does not settle", runtime.Plan, true, 0, "as planned", "", "unchanged"},
		{"apply settles and returns its result", runtime.Apply, true, 1, "settled", "", "unchanged"},
		{"apply fails with the step and address", runtime.Apply, false, 1, "", "step 1 (s): thing: not healthy", "failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			script := runtimetest.Script(t, map[string]string{"main.star": "step('s')\nprint(thing(ok = " + map[bool]string{true: "True", false: "False"}[c.ok] + "))\n"})
			r := runtimetest.Exec(t, script, runtimetest.ExecOptions{Mode: c.mode, SkipPreflight: true, Modules: []runtime.Module{settleModule(&calls)}})
			if calls != c.wantCalls {
				t.Errorf("Settle ran %d times, want %d", calls, c.wantCalls)
			}
			if c.wantErr == "" && (r.Err != nil || !strings.Contains(r.Out, c.wantOut)) {
				t.Errorf("err %v, output %q, want %q", r.Err, r.Out, c.wantOut)
			}
			if c.wantErr != "" && (r.Err == nil || !strings.Contains(r.ErrMsg, c.wantErr)) {
				t.Errorf("error %q, want %q", r.ErrMsg, c.wantErr)
			}
			if recs := r.Res.Records; len(recs) != 1 || recs[0].Status != c.wantState {
				t.Errorf("records %+v, want one %s", recs, c.wantState)
			}
		})
	}
}
