package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nvrun/nvrun/builtins/consul"
	nvhttp "github.com/nvrun/nvrun/builtins/http"
	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/stdlib"
)

// inProcess runs a script as the CLI does (the modules of cmd/nvrun/modules.go, stdlib,
// redaction), but in this
// process: what nvrun costs without its process start. wrap, if set, is the Vault
// client's WrapTransport (recording requests).
type inProcess struct {
	script   string
	mode     runtime.Mode
	vars     []string
	environ  []string
	keysFile string
	wrap     func(http.RoundTripper) http.RoundTripper
}

func (p inProcess) run(ctx context.Context) (*runtime.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	red := runtime.NewRedactor()
	var out bytes.Buffer
	res, err := runtime.Exec(ctx, runtime.Options{
		Script:  p.script,
		Mode:    p.mode,
		Vars:    p.vars,
		Environ: p.environ,
		Modules: []runtime.Module{
			vault.Module(vault.Options{KeysFile: p.keysFile, Stderr: &out, WrapTransport: p.wrap}),
			nomad.Module(nomad.Options{}),
			consul.Module(consul.Options{}),
			nvhttp.Module(nvhttp.Options{}),
		},
		Stdlib: stdlib.FS,
		Out:    red.Writer(&out),
	}, red)
	if err != nil {
		return res, fmt.Errorf("%s\n%s", red.Redact(err.Error()), red.Redact(out.String()))
	}
	if p.mode == runtime.Plan {
		_ = res.WritePlan(red.Writer(&out), runtime.RenderOptions{})
	} else {
		_ = res.WriteApplySummary(red.Writer(&out), runtime.RenderOptions{})
	}
	return res, nil
}
