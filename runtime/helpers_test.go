package runtime_test

import (
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// exec runs script with the probe module bound to srv, ahead of any o.Modules.
func exec(t *testing.T, srv *runtimetest.Server, script string, o runtimetest.ExecOptions) runtimetest.Result {
	t.Helper()
	o.Modules = append([]runtime.Module{runtimetest.Module(srv)}, o.Modules...)
	return runtimetest.Exec(t, script, o)
}
