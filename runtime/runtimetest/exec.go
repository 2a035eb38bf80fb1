package runtimetest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/stdlib"
)

// Script lays out a script tree (name -> source, names may contain slashes) in
// t.TempDir() and returns the path of its entry point, main.star.
func Script(t testing.TB, files map[string]string) string {
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

// ExecOptions is what a test varies about one run. The fields mean what the
// runtime.Options fields of the same name mean, except Environ and Timeout.
type ExecOptions struct {
	Mode          runtime.Mode
	Offline       bool
	Destroy       bool
	SkipPreflight bool
	Modules       []runtime.Module
	// Environ is the run's whole environment. nil means an empty one, never the
	// process's: an ambient VAULT_ADDR or NVRUN_VAR_* must not change a test.
	Environ  []string
	Vars     []string
	VarFiles []string
	MaxSteps uint64
	// Parallelism is runtime.Options.Parallelism (0: the default; 1: one by one).
	Parallelism int
	// Timeout bounds the run; 0 leaves it to the test binary's own timeout.
	Timeout time.Duration
}

// Result is one run and every view of it a user could see, each passed through the
// run's redactor as the CLI does, so that tests can check what really gets printed.
type Result struct {
	Res    *runtime.Result // nil when the run failed before producing one
	Err    error
	Out    string // print() output and apply progress
	Plan   string // the rendered plan (Plan mode) or apply summary (Apply mode)
	JSON   string // the --json record, with the error as it would print
	ErrMsg string // the error as the CLI would print it; "" without one
}

// All is every output of the run in one string: what a secret must appear in none of.
func (r Result) All() string { return r.Out + r.Plan + r.JSON + r.ErrMsg }

// MustOK fails the test, showing the outputs, if the run failed; it returns r so that
// it can be chained onto Exec.
func (r Result) MustOK(t testing.TB) Result {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("run failed: %s\n--- out ---\n%s\n--- plan ---\n%s", r.ErrMsg, r.Out, r.Plan)
	}
	return r
}

// Exec runs script (a path, see Script) with a fresh redactor and the embedded
// stdlib, as the CLI would, and renders every view of the result.
func Exec(t testing.TB, script string, o ExecOptions) Result {
	t.Helper()
	ctx := context.Background()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	env := o.Environ
	if env == nil {
		env = []string{} // runtime.Options reads nil as os.Environ()
	}
	var out bytes.Buffer
	red := runtime.NewRedactor()
	res, err := runtime.Exec(ctx, runtime.Options{
		Script:        script,
		Mode:          o.Mode,
		Offline:       o.Offline,
		Destroy:       o.Destroy,
		SkipPreflight: o.SkipPreflight,
		Vars:          o.Vars,
		VarFiles:      o.VarFiles,
		Environ:       env,
		Modules:       o.Modules,
		Stdlib:        stdlib.FS,
		Out:           &out,
		MaxSteps:      o.MaxSteps,
		Parallelism:   o.Parallelism,
	}, red)
	r := Result{Res: res, Err: err, Out: out.String()}
	if err != nil {
		r.ErrMsg = red.Redact(err.Error())
	}
	if res != nil {
		var text, js bytes.Buffer
		if o.Mode == runtime.Plan {
			_ = res.WritePlan(red.Writer(&text), runtime.RenderOptions{})
		} else {
			_ = res.WriteApplySummary(red.Writer(&text), runtime.RenderOptions{})
		}
		_ = res.WriteJSON(red.Writer(&js), r.ErrMsg)
		r.Plan, r.JSON = text.String(), js.String()
	}
	return r
}
