package scripttest

import (
	"net/http"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/builtins/consul/consulfake"
	"github.com/nvrun/nvrun/builtins/http/httpfake"
	"github.com/nvrun/nvrun/builtins/nomad/nomadfake"
	"github.com/nvrun/nvrun/builtins/vault/vaultfake"
)

// kind is one kind of described server: state.<name>(...) builds its fake, which
// answers the module's HTTP API in memory.
type kind struct {
	name  string
	build func(kwargs []starlark.Tuple) (http.Handler, error)
}

// kinds are the servers a test can describe, each served by the fake beside its
// builtin module (kept honest by that package's conformance suite against the real
// server).
var kinds = []kind{
	{"vault", func(kw []starlark.Tuple) (http.Handler, error) { return vaultfake.FromStarlark(kw) }},
	{"nomad", func(kw []starlark.Tuple) (http.Handler, error) { return nomadfake.FromStarlark(kw) }},
	{"consul", func(kw []starlark.Tuple) (http.Handler, error) { return consulfake.FromStarlark(kw) }},
	{"http", func(kw []starlark.Tuple) (http.Handler, error) { return httpfake.FromStarlark(kw) }},
}
