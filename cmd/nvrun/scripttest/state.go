package scripttest

import (
	"fmt"
	"net/http"
	"os"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// described is what state.vault(...) (and consul, nomad, http) returns: one described
// live server, a fake that plan() reads and apply() changes. The same value passed to a
// later plan() sees what an earlier apply() did.
type described struct {
	kind string
	fake http.Handler
	// dir is the operator's side of a described Vault: the directory that holds the
	// keys file vault.init writes, kept while the test runs, so that a later plan() or
	// apply() of the same Vault loads its keys and root token from it, as a re-run of
	// nvrun beside its keys file does. Made when first needed.
	dir string
}

// keysDir is d's directory for the keys file; it is removed when the test ends.
func (t *tester) keysDir(d *described) (string, error) {
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "nvrun-test-keys-")
		if err != nil {
			return "", err
		}
		d.dir = dir
		t.closers = append(t.closers, func() { os.RemoveAll(dir) })
	}
	return d.dir, nil
}

var _ starlark.Value = (*described)(nil)

func (d *described) String() string        { return fmt.Sprintf("<state.%s>", d.kind) }
func (d *described) Type() string          { return "state." + d.kind }
func (d *described) Freeze()               {} // the fake's state is meant to change under apply()
func (d *described) Truth() starlark.Bool  { return starlark.True }
func (d *described) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", d.Type()) }

// stateModule is `state`: one builder per kind of server (fakes.go).
func (t *tester) stateModule() *starlarkstruct.Module {
	members := starlark.StringDict{}
	for _, k := range kinds {
		members[k.name] = starlark.NewBuiltin("state."+k.name, func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(args) > 0 {
				return nil, fmt.Errorf("%s: takes keyword arguments only (%s(policies = {...}, ...))", fn.Name(), fn.Name())
			}
			f, err := k.build(kwargs)
			if err != nil {
				return nil, err // the fake names the key; the runner adds the test file's line
			}
			if c, ok := f.(interface{ Close() }); ok {
				t.closers = append(t.closers, c.Close) // a fake with background work (Nomad's)
			}
			return &described{kind: k.name, fake: f}, nil
		})
	}
	return &starlarkstruct.Module{Name: "state", Members: members}
}

// describedServers checks plan()'s state= list: described servers, at most one of each
// kind, by kind.
func describedServers(fn string, state starlark.Value) (map[string]*described, error) {
	out := map[string]*described{}
	if state == nil || state == starlark.None {
		return out, nil
	}
	iter, ok := state.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("%s: state must be a list of state.vault(...), state.nomad(...), state.consul(...), state.http(...), got %s", fn, state.Type())
	}
	it := iter.Iterate()
	defer it.Done()
	var v starlark.Value
	for i := 0; it.Next(&v); i++ {
		d, ok := v.(*described)
		if !ok {
			return nil, fmt.Errorf("%s: state[%d] is %s, want a described server such as state.vault(...)", fn, i, v.Type())
		}
		if out[d.kind] != nil {
			return nil, fmt.Errorf("%s: state describes %s twice: give one state.%s(...) per %s()", fn, d.kind, d.kind, fn)
		}
		out[d.kind] = d
	}
	return out, nil
}
