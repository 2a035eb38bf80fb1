package runtime_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
	"github.com/nvrun/nvrun/stdlib"
)

// run is the outcome of one Exec, with every output it produced.
type run struct {
	res    *runtime.Result
	err    error
	out    string // print() and progress
	plan   string // rendered plan text (plan mode) or apply summary
	json   string
	errMsg string
}

func (r run) all() string { return r.out + r.plan + r.json + r.errMsg }

// writeFiles lays out a script tree in a temp dir and returns the path of main.star.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "main.star")
}

// exec runs script (a path) against srv in mode, with opts tweaks, rendering all views.
func exec(t *testing.T, srv *runtimetest.Server, script string, mode runtime.Mode, tweak func(*runtime.Options)) run {
	t.Helper()
	var out bytes.Buffer
	red := runtime.NewRedactor()
	opts := runtime.Options{
		Script:  script,
		Mode:    mode,
		Modules: []runtime.Module{runtimetest.Module(srv)},
		Stdlib:  stdlib.FS,
		Out:     &out,
		Environ: []string{},
	}
	if tweak != nil {
		tweak(&opts)
	}
	res, err := runtime.Exec(context.Background(), opts, red)
	r := run{res: res, err: err, out: out.String()}
	if res != nil {
		var plan, js bytes.Buffer
		if mode == runtime.Plan {
			_ = res.WritePlan(red.Writer(&plan), runtime.RenderOptions{})
		} else {
			_ = res.WriteApplySummary(red.Writer(&plan), runtime.RenderOptions{})
		}
		msg := ""
		if err != nil {
			msg = red.Redact(err.Error())
		}
		_ = res.WriteJSON(red.Writer(&js), msg)
		r.plan, r.json = plan.String(), js.String()
	}
	if err != nil {
		r.errMsg = red.Redact(err.Error())
	}
	return r
}
