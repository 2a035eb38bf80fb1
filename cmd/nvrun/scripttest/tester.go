package scripttest

import (
	"context"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/builtins/nomad"
)

// tester is the test API of one interpreter (one test function, or the file's
// discovery run): the file it runs, for relative script paths and positions.
type tester struct {
	ctx     context.Context
	file    string
	closers []func() // the fakes' Close, when the test ends
}

// close stops the fakes the test described.
func (t *tester) close() {
	for _, c := range t.closers {
		c()
	}
	t.closers = nil
}

func (t *tester) predeclared() starlark.StringDict {
	return starlark.StringDict{
		"plan":   starlark.NewBuiltin("plan", t.runBuiltin(planMode)),
		"apply":  starlark.NewBuiltin("apply", t.runBuiltin(applyMode)),
		"assert": assertModule(),
		"state":  t.stateModule(),
		// nomad.job(...) and the other job spec builders, to describe live jobs.
		"nomad":  &starlarkstruct.Module{Name: "nomad", Members: nomad.Builders()},
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
		"json":   json.Module,
	}
}
