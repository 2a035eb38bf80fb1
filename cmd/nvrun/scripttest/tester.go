package scripttest

import (
	"context"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// tester is the test API of one interpreter (one test function, or the file's
// discovery run): the file it runs, for relative script paths and positions.
type tester struct {
	ctx  context.Context
	file string
}

func (t *tester) predeclared() starlark.StringDict {
	return starlark.StringDict{
		"plan":   starlark.NewBuiltin("plan", t.runBuiltin(planMode)),
		"apply":  starlark.NewBuiltin("apply", t.runBuiltin(applyMode)),
		"assert": assertModule(),
		"state":  stateModule(),
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
		"json":   json.Module,
	}
}
