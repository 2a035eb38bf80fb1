package nomad

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// result is one script run, with every output it produced.
type result struct {
	res    *runtime.Result
	err    error
	out    string // print() and apply progress
	plan   string // the rendered plan (plan mode) or apply summary
	json   string
	errMsg string // the error as the CLI would print it (redacted)
}

func (r result) all() string { return r.out + r.plan + r.json + r.errMsg }

// runConfig is what a test varies about a run.
type runConfig struct {
	mode    runtime.Mode
	offline bool
	env     []string // NOMAD_ADDR etc.; nothing leaks in from the test's environment
	vars    []string
	modules []runtime.Module // besides nomad
	opts    Options
}

// writeScript writes main.star (and any other files) into a fresh dir.
func writeScript(t *testing.T, files map[string]string) string {
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

func runScript(t *testing.T, script string, cfg runConfig) result {
	t.Helper()
	var out bytes.Buffer
	red := runtime.NewRedactor()
	env := cfg.env
	if env == nil {
		env = []string{}
	}
	opts := runtime.Options{
		Script:        script,
		Mode:          cfg.mode,
		Offline:       cfg.offline,
		SkipPreflight: true,
		Vars:          cfg.vars,
		Modules:       append(append([]runtime.Module{}, cfg.modules...), ModuleWith(cfg.opts)),
		Out:           &out,
		Environ:       env,
	}
	res, err := runtime.Exec(context.Background(), opts, red)
	r := result{res: res, err: err, out: out.String()}
	if res != nil {
		var plan, js bytes.Buffer
		if cfg.mode == runtime.Plan {
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

// execBuilders runs Starlark that only builds specs (no Run needed) and returns its
// globals.
func execBuilders(t *testing.T, src string) (starlark.StringDict, error) {
	t.Helper()
	m := &module{}
	pre := starlark.StringDict{"nomad": moduleValue(m)}
	thread := &starlark.Thread{Name: "test"}
	return starlark.ExecFile(thread, "main.star", src, pre)
}

// provider is a module whose only job is to Provide a value to the others, as the
// vault module provides "vault.capabilities".
func provider(name string, v any) runtime.Module {
	return runtime.Module{Name: "provider_" + strings.ReplaceAll(name, ".", "_"), New: func(r *runtime.Run) (starlark.Value, error) {
		r.Provide(name, v)
		return starlark.None, nil
	}}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Errorf("%s contains %q:\n%s", what, b, got)
		}
	}
}
