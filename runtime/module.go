package runtime

import "go.starlark.net/starlark"

// Module is a builtin module such as `vault`. cmd/nvrun lists the modules it wires in;
// each builtin package exports a constructor returning one.
type Module struct {
	// Name is the script-visible global, e.g. "vault".
	Name string
	// New builds the module's value for one run. It is called once per Run (the apply
	// preflight gets its own), so per-run state such as API clients lives in its closure
	// rather than in package globals.
	New func(r *Run) (starlark.Value, error)
}
