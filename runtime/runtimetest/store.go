package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Store is the `store` module's world: a key/value server to initialise before its keys
// can be read, which can be taken Down. StoreModule is a whole module on Run.Converge and
// Run.Query alone: it never asks the mode, yet plans, applies, plans offline, survives an
// unreachable server and a pending init. builtins/README.md says to copy it.
type Store struct {
	initialised   bool
	data          map[string]string
	at            map[string]uint64 // the index of each key's last write
	index         uint64            // bumped by every put, as Consul's ModifyIndex is
	Down          bool              // every request fails as a refused connection
	Reads, Writes int
	Deleted       []string // the keys deleted, in order
	DeleteFails   string   // a key whose delete the store refuses (a failed destroy)
}

func NewStore(initialised bool) *Store {
	return &Store{initialised: initialised, data: map[string]string{}, at: map[string]uint64{}}
}

// do runs one request (one run at a time: no lock), counted, and refused when Down.
func (s *Store) do(count *int, fn func() error) error {
	if s.Down {
		return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	*count++
	return fn()
}

// StoreModule returns the `store` module over s: init(), put(key, value), get(key).
func StoreModule(s *Store) runtime.Module {
	return runtime.Module{Name: "store", New: func(r *runtime.Run) (starlark.Value, error) {
		m := &storeModule{s: s, run: r, srv: r.Server("store")}
		return &starlarkstruct.Module{Name: "store", Members: starlark.StringDict{
			"init": starlark.NewBuiltin("store.init", m.init),
			"put":  starlark.NewBuiltin("store.put", m.put),
			"get":  starlark.NewBuiltin("store.get", m.get),
		}}, nil
	}}
}

type storeModule struct {
	s   *Store
	run *runtime.Run
	srv *runtime.Server // the run's handle: reachability and pending changes
}

// init() initialises the store: until then its keys cannot be read (Pending).
func (m *storeModule) init(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return m.run.Converge(thread, runtime.Resource{
		Server: m.srv, Address: "store init", Unblocked: true, Pending: "the store is initialised at apply",
		Read: func(context.Context) (any, runtime.Fingerprint, error) {
			done := false
			err := m.s.do(&m.s.Reads, func() error { done = m.s.initialised; return nil })
			return done, runtime.HashFingerprint(done), err
		},
		Diff: func(live runtime.Live) runtime.Change {
			if done, _ := live.Value.(bool); done {
				return runtime.Change{Action: runtime.Unchanged}
			}
			return runtime.Change{Action: runtime.Call, Planned: starlark.None}
		},
		Write: func(context.Context, runtime.Live) (starlark.Value, error) {
			return starlark.None, m.s.do(&m.s.Writes, func() error { m.s.initialised = true; return nil })
		},
	})
}

// read returns the key's value (nil if absent) and its modify index as the fingerprint.
func (m *storeModule) read(key string) (v any, fp runtime.Fingerprint, err error) {
	err = m.s.do(&m.s.Reads, func() error {
		if !m.s.initialised {
			return errors.New("store is not initialised")
		}
		if s, ok := m.s.data[key]; ok {
			v, fp = s, runtime.IndexFingerprint(m.s.at[key])
		}
		return nil
	})
	return v, fp, err
}

// put(key, value) makes key hold value: declared as Read, Diff, Write and Delete.
func (m *storeModule) put(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var value runtime.SecretArg
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	return m.run.Converge(thread, runtime.Resource{
		Server: m.srv, Address: fmt.Sprintf("store %q", key),
		Read: func(context.Context) (any, runtime.Fingerprint, error) { return m.read(key) },
		Diff: func(live runtime.Live) runtime.Change {
			c := runtime.Change{Action: runtime.Create, Planned: starlark.None}
			if live.Pending() {
				c.Notes = []string{"live state will be read at apply (" + string(live.Unread) + ")"}
			}
			old, exists := live.Value.(string)
			switch {
			case !exists:
				c.Diff = []runtime.DiffLine{{Op: "+", Key: "value", After: value.Shown()}}
			case old == value.Value && !value.IsUnknown():
				c.Action = runtime.Unchanged
			default:
				c.Action = runtime.Update
				c.Diff = []runtime.DiffLine{{Op: "~", Key: "value", Before: runtime.SecretArg{Value: old, Sensitive: value.Sensitive}.Shown(), After: value.Shown()}}
			}
			return c
		},
		Write: func(context.Context, runtime.Live) (starlark.Value, error) {
			return starlark.None, m.s.do(&m.s.Writes, func() error { m.s.index++; m.s.data[key], m.s.at[key] = value.Value, m.s.index; return nil })
		},
		Delete: func(context.Context) error {
			return m.s.do(&m.s.Writes, func() error {
				if key == m.s.DeleteFails {
					return fmt.Errorf("store refuses to delete %q", key)
				}
				delete(m.s.data, key)
				m.s.Deleted = append(m.s.Deleted, key)
				return nil
			})
		},
	})
}

// get(key) returns the key's value, None if absent: Unknown when it cannot be read yet.
func (m *storeModule) get(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key runtime.StringArg
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key); err != nil {
		return nil, err
	}
	return m.run.Query(thread, runtime.Query{
		Server: m.srv, Address: "store " + key.Shown(), Unknown: key.UnknownText(),
		Read: func(context.Context) (runtime.Answer, error) {
			if v, fp, err := m.read(key.Value); v != nil || err != nil {
				return runtime.Answer{Value: starlark.String(fmt.Sprint(v)), Fingerprint: fp}, err
			}
			return runtime.Answer{Value: starlark.None}, nil
		},
	})
}
