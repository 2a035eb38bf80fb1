package nomad

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// runConfig is what a test varies about a run.
type runConfig struct {
	mode    runtime.Mode
	offline bool
	env     []string // NOMAD_ADDR etc.; nothing leaks in from the test's environment
	vars    []string
	modules []runtime.Module // besides nomad
	opts    Options
}

// runScript runs script (see runtimetest.Script) with cfg.modules and then the nomad
// module built from cfg.opts. It skips the offline preflight: the scripts here call len()
// on results, which that preflight cannot answer (they are Unknowns there).
func runScript(t *testing.T, script string, cfg runConfig) runtimetest.Result {
	t.Helper()
	return runtimetest.Exec(t, script, runtimetest.ExecOptions{
		Mode:          cfg.mode,
		Offline:       cfg.offline,
		SkipPreflight: true,
		Vars:          cfg.vars,
		Modules:       append(append([]runtime.Module{}, cfg.modules...), Module(cfg.opts)),
		Environ:       cfg.env,
	})
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
