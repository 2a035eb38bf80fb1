// Package runtimetest helps test the runtime, the CLI and the builtins.
//
// It provides `probe`, a small builtin module over an in-memory server, for testing the
// runtime and the CLI without Vault, Nomad or Consul. It uses the effect interface
// exactly as real builtins do, and counts the writes that really happened.
//
// Script and Exec (exec.go) run a script as the CLI would and capture every output, so
// that each package's tests need only add their own modules and environment.
package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Server is the probe's "world": a key/value store that counts writes.
type Server struct {
	mu     sync.Mutex
	data   map[string]string
	writes int
	// Secret is the value probe.mint() returns: tests use a recognisable canary and
	// check it appears in no output.
	Secret string
}

func NewServer() *Server { return &Server{data: map[string]string{}, Secret: "CANARY-s3cr3t-7f1d2a"} }

// Writes is the number of writes performed so far.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Get returns a stored value.
func (s *Server) Get(k string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[k]
	return v, ok
}

func (s *Server) put(k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[k] = v
	s.writes++
}

// Module returns the probe module bound to srv.
func Module(srv *Server) runtime.Module {
	return runtime.Module{Name: "probe", New: func(r *runtime.Run) (starlark.Value, error) {
		p := &probe{srv: srv, run: r}
		return &starlarkstruct.Module{Name: "probe", Members: starlark.StringDict{
			"put":  starlark.NewBuiltin("probe.put", p.put),
			"get":  starlark.NewBuiltin("probe.get", p.get),
			"mint": starlark.NewBuiltin("probe.mint", p.mint),
			"fail": starlark.NewBuiltin("probe.fail", p.fail),
			"leak": starlark.NewBuiltin("probe.leak", p.leak),
			"wait": starlark.NewBuiltin("probe.wait", p.wait),
		}}, nil
	}}
}

type probe struct {
	srv *Server
	run *runtime.Run
}

// put(key, value) is declarative: it writes only when the stored value differs.
func (p *probe) put(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var value starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	if runtime.IsUnknown(value) {
		return p.run.Effect(thread, runtime.Change{
			Address: fmt.Sprintf("probe %q", key), Action: runtime.Create, Summary: "value known after apply",
			Apply: func(context.Context) (starlark.Value, error) { return nil, errors.New("unreachable in plan") },
		})
	}
	val, sensitive, ok := runtime.StringOrSecret(value)
	if !ok {
		return nil, fmt.Errorf("%s: value must be a string or secret, not %s", fn.Name(), value.Type())
	}
	shown := fmt.Sprintf("%q", val)
	if sensitive {
		shown = runtime.Redacted
	}
	addr := fmt.Sprintf("probe %q", key)
	action := runtime.Create
	var diff []runtime.DiffLine
	if !p.run.Offline() {
		old, exists := p.srv.Get(key)
		if exists && old == val {
			return p.run.Effect(thread, runtime.Change{Address: addr, Action: runtime.Unchanged})
		}
		if exists {
			action = runtime.Update
			before := fmt.Sprintf("%q", old)
			if sensitive {
				before = runtime.Redacted
			}
			diff = append(diff, runtime.DiffLine{Op: "~", Key: "value", Before: before, After: shown})
		}
	}
	if action == runtime.Create {
		diff = append(diff, runtime.DiffLine{Op: "+", Key: "value", After: shown})
	}
	return p.run.Effect(thread, runtime.Change{
		Address: addr, Action: action, Diff: diff, Planned: starlark.None,
		Apply: func(context.Context) (starlark.Value, error) {
			p.srv.put(key, val)
			return starlark.None, nil
		},
	})
}

// get(key) reads live state: Unknown offline, None when absent.
func (p *probe) get(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key); err != nil {
		return nil, err
	}
	if p.run.Offline() {
		return p.run.Unknown(thread), nil
	}
	if v, ok := p.srv.Get(key); ok {
		return starlark.String(v), nil
	}
	return starlark.None, nil
}

// mint(name) creates a token, known only after apply, returned as a secret.
func (p *probe) mint(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	return p.run.Effect(thread, runtime.Change{
		Address: fmt.Sprintf("probe token %q", name), Action: runtime.Create,
		Apply: func(context.Context) (starlark.Value, error) {
			p.srv.put("token/"+name, p.srv.Secret)
			return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
				"name":  starlark.String(name),
				"token": p.run.Secret(p.srv.Secret),
			}), nil
		},
	})
}

// fail(msg) is a change whose apply fails, like a server fault.
func (p *probe) fail(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	return p.run.Effect(thread, runtime.Change{
		Address: "probe fault", Action: runtime.Call,
		Apply: func(context.Context) (starlark.Value, error) { return nil, errors.New(msg) },
	})
}

// leak(secret) returns an error that embeds the secret's plain text, as a careless
// server error might: the redactor must still scrub it.
func (p *probe) leak(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "secret", &v); err != nil {
		return nil, err
	}
	s, _, _ := runtime.StringOrSecret(v)
	return p.run.Effect(thread, runtime.Change{
		Address: "probe leak", Action: runtime.Call,
		Apply: func(context.Context) (starlark.Value, error) {
			return nil, fmt.Errorf("server said: bad token %q (json %s)", s, fmt.Sprintf(`{"t":%q}`, s))
		},
	})
}

// wait(timeout) waits for something that never gets ready: its first poll answers
// "not ready yet", every later poll blocks until the wait's deadline cuts it off, as a
// blocking query to a slow server does.
func (p *probe) wait(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var timeout string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "timeout", &timeout); err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	return p.run.Effect(thread, runtime.Change{
		Address: "probe wait", Action: runtime.Read,
		Apply: func(context.Context) (starlark.Value, error) {
			polls := 0
			err := p.run.Wait(thread, runtime.WaitSpec{
				What: "the probe", Timeout: d, Interval: time.Millisecond,
				Poll: func(ctx context.Context) (bool, string, error) {
					if polls++; polls == 1 {
						return false, "not ready yet", nil
					}
					<-ctx.Done()
					return false, "", fmt.Errorf("probe request: %w", ctx.Err())
				},
			})
			return starlark.None, err
		},
	})
}
