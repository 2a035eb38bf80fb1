package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// panicSecret is what the test-only `boom` module mints and then panics with.
const panicSecret = "PanicCanary-9d2e4f61"

// boomModule is a test-only module whose builtins panic with a secret in the message,
// as a buggy builtin would. explode() panics directly; maker() returns a builtin that
// panics when called (a builtin the runtime never saw at module registration). Each
// registers an end-of-run cleanup first, as a read of credentials does, and counts it.
func boomModule(cleanups *atomic.Int32) runtime.Module {
	return runtime.Module{Name: "boom", New: func(r *runtime.Run) (starlark.Value, error) {
		arm := func() string {
			s := r.Secret(panicSecret).Reveal()
			r.Defer("revoke the boom lease", func(context.Context) error { cleanups.Add(1); return nil })
			return s
		}
		explode := starlark.NewBuiltin("boom.explode", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			if r.Offline() { // the preflight passes; the apply panics
				return starlark.None, nil
			}
			panic(fmt.Sprintf("nil map while holding token %s", arm()))
		})
		maker := starlark.NewBuiltin("boom.maker", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return starlark.NewBuiltin("boom.made", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
				if r.Offline() {
					return starlark.None, nil
				}
				panic(fmt.Errorf("wrapped %s", arm()))
			}), nil
		})
		hidden := starlark.NewBuiltin("boom.hidden", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return starlark.NewList([]starlark.Value{maker}), nil // a builtin no guard sees
		})
		return &starlarkstruct.Module{Name: "boom", Members: starlark.StringDict{"explode": explode, "maker": maker, "hidden": hidden}}, nil
	}}
}

func TestBuiltinPanicIsAnError(t *testing.T) {
	cases := []struct {
		name, src, wantName string
	}{
		{"module builtin", "step('s')\nboom.explode()\n", "boom.explode"},
		{"builtin made by a builtin", "step('s')\nf = boom.maker()\nf()\n", "boom.made"},
		{"builtin in a list", "step('s')\nf = boom.hidden()[0]()\nf()\n", "step 1 (s): internal error in a builtin"},
	}
	for _, c := range cases {
		for _, args := range [][]string{nil, {"--json"}} {
			t.Run(c.name+strings.Join(args, ""), func(t *testing.T) {
				var cleanups atomic.Int32
				var out, errb strings.Builder
				code := Main(context.Background(), append(args, writeScript(t, c.src)), []string{}, &out, &errb, []runtime.Module{boomModule(&cleanups)})
				all := out.String() + errb.String()
				if code != 1 {
					t.Fatalf("exit %d, want 1\n%s", code, all)
				}
				if strings.Contains(all, panicSecret) {
					t.Fatalf("the secret in the panic leaked:\n%s", all)
				}
				if !strings.Contains(all, "main.star:") || !strings.Contains(all, c.wantName) || !strings.Contains(all, "internal error") || !strings.Contains(all, "panic") {
					t.Fatalf("error should name the position, %s, and say it is an internal error (panic):\n%s", c.wantName, all)
				}
				if !strings.Contains(all, "token (sensitive)") && !strings.Contains(all, "wrapped (sensitive)") {
					t.Fatalf("the panic message, redacted, should be shown:\n%s", all)
				}
				if cleanups.Load() != 1 {
					t.Fatalf("end-of-run cleanup ran %d times, want 1", cleanups.Load())
				}
			})
		}
	}
}
