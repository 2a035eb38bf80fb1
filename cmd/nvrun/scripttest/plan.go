package scripttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/stdlib"
)

type runMode int

const (
	planMode runMode = iota
	applyMode
)

// testToken is the VAULT_TOKEN a script sees: vault.login(None) on a described Vault
// that was initialised elsewhere (no keys file: the test did not initialise it) uses it,
// and the fake takes any token as valid unless the state says otherwise.
const testToken = "hvs.nvrun-test-token"

// runBuiltin is plan(script, vars={}, state=[]) and apply(...): run the script against
// the described servers and return what it did (result.go). A script that fails is
// not a failed call: its message is the result's .error, for the test to check. A bad
// call (a path outside the test's tree, a state that is not one) fails the test.
func (t *tester) runBuiltin(mode runMode) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var script string
		vars := new(starlark.Dict)
		var state starlark.Value = starlark.None
		env := new(starlark.Dict)
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "script", &script, "vars?", &vars, "state?", &state, "env?", &env); err != nil {
			return nil, err
		}
		path, err := scriptPath(t.file, script)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		servers, err := describedServers(fn.Name(), state)
		if err != nil {
			return nil, err
		}
		settings, err := varSettings(fn.Name(), vars)
		if err != nil {
			return nil, err
		}
		// A fresh directory per run for $HOME (so no ~/.vault-token of the user running
		// the tests is read), and for the keys file unless a Vault is described (its
		// keys file lives as long as the test: state.go).
		tmp, err := os.MkdirTemp("", "nvrun-test-")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		defer os.RemoveAll(tmp)
		keys := tmp
		if v := servers["vault"]; v != nil {
			if keys, err = t.keysDir(v); err != nil {
				return nil, fmt.Errorf("%s: %w", fn.Name(), err)
			}
		}
		environ, err := environment(fn.Name(), env, tmp)
		if err != nil {
			return nil, err
		}
		opts := runtime.Options{
			Script:  path,
			Mode:    runtime.Plan,
			Vars:    settings,
			Environ: environ,
			Modules: modules(servers, keys, nil),
			Stdlib:  stdlib.FS,
			Out:     io.Discard,
			// The fakes settle within milliseconds: a wait that does not hold after
			// a second never will, and a failing test should say so at once.
			MaxWait: time.Second,
		}
		ctx := t.ctx
		var reached *reachedServers
		if mode == applyMode {
			opts.Mode = runtime.Apply
			ctx, reached = stopOnUndescribed(ctx)
			opts.Modules = modules(servers, keys, reached.add)
			defer reached.stop()
		}
		red := runtime.NewRedactor()
		res, err := runtime.Exec(ctx, opts, red)
		msg := runError(err, red)
		if err != nil && reached != nil {
			msg = reached.explain(msg)
		}
		// The run's directories are different temporary paths each time: show the keys
		// file as the CLI's default name, so a test's expectations do not depend on them.
		sep := string(filepath.Separator)
		clean := strings.NewReplacer(keys+sep, "", keys, ".", tmp+sep, "", tmp, ".").Replace
		return resultValue(res, msg, clean), nil
	}
}

// varSettings turns vars={...} into --var settings: strings as they are, anything else
// as JSON, which the runtime converts to the type of the var's default.
func varSettings(fn string, vars *starlark.Dict) ([]string, error) {
	var out []string
	for _, it := range vars.Items() {
		k, ok := it[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s: vars: key %s is not a string", fn, it[0])
		}
		var raw string
		if s, ok := it[1].(starlark.String); ok {
			raw = string(s)
		} else {
			g, err := runtime.ToGo(it[1])
			if err != nil {
				return nil, fmt.Errorf("%s: vars[%q]: %w", fn, string(k), err)
			}
			b, err := json.Marshal(g)
			if err != nil {
				return nil, fmt.Errorf("%s: vars[%q]: %w", fn, string(k), err)
			}
			raw = string(b)
		}
		out = append(out, string(k)+"="+raw)
	}
	return out, nil
}

// environment is the script's whole environment: not the process's, so no VAULT_ADDR,
// token or proxy of the user running the tests reaches it. HOME is the run's directory
// (no ~/.vault-token is read) and VAULT_TOKEN the test token; env={...} adds to them
// or overrides them (a state that lists its tokens names the one to log in with).
func environment(fn string, env *starlark.Dict, tmp string) ([]string, error) {
	vals := map[string]string{"HOME": tmp, "VAULT_TOKEN": testToken}
	for _, it := range env.Items() {
		k, ok1 := it[0].(starlark.String)
		v, ok2 := it[1].(starlark.String)
		if !ok1 || !ok2 || k == "" || strings.Contains(string(k), "=") {
			return nil, fmt.Errorf("%s: env: want {NAME: \"value\"} strings, got %s: %s", fn, it[0], it[1].Type())
		}
		vals[string(k)] = string(v)
	}
	out := make([]string, 0, len(vals))
	for k, v := range vals {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// runError is the message of a failed run as a test reads it: the runtime's, with the
// CLI's flag names turned into the test API's (vars= rather than --var), redacted.
func runError(err error, red *runtime.Redactor) string {
	if err == nil {
		return ""
	}
	var usage *runtime.UsageError
	msg := err.Error()
	if errors.As(err, &usage) && strings.HasPrefix(usage.Flag, "--var") {
		msg = "vars: " + usage.Msg
	}
	return red.Redact(msg)
}
