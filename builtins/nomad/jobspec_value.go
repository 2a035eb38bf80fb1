package nomad

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"
)

// spec is the Starlark value of a job spec block: an api struct, immutable once built,
// plus the secrets and unknowns it carries (see taint).
type spec[T any] struct {
	kind  string // the builder: "nomad.job", "nomad.task", ...
	label string // the block label (job id, group or task name), if any
	v     *T
	taint *taint
}

var _ starlark.HasAttrs = (*spec[api.Job])(nil)

func (s *spec[T]) String() string {
	if s.label == "" {
		return s.kind + "(...)"
	}
	return fmt.Sprintf("%s(%q)", s.kind, s.label)
}
func (s *spec[T]) Type() string          { return s.kind }
func (s *spec[T]) Freeze()               {}
func (s *spec[T]) Truth() starlark.Bool  { return starlark.True }
func (s *spec[T]) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", s.kind) }

// Attr exposes a few read-only facts, and the rendered text of a job (secrets shown as
// (sensitive)) so that a script can print what it is about to run.
func (s *spec[T]) Attr(name string) (starlark.Value, error) {
	switch v := any(s.v).(type) {
	case *api.Job:
		switch name {
		case "id":
			return starlark.String(*v.ID), nil
		case "type":
			return starlark.String(*v.Type), nil
		case "hcl":
			return starlark.String(renderJob(v, s.taint)), nil
		}
	case *api.TaskGroup:
		switch name {
		case "name":
			return starlark.String(*v.Name), nil
		case "count":
			return starlark.MakeInt(*v.Count), nil
		}
	case *api.Task:
		switch name {
		case "name":
			return starlark.String(v.Name), nil
		case "driver":
			return starlark.String(v.Driver), nil
		}
	}
	return nil, nil
}

func (s *spec[T]) AttrNames() []string {
	switch any(s.v).(type) {
	case *api.Job:
		return []string{"hcl", "id", "type"}
	case *api.TaskGroup:
		return []string{"count", "name"}
	case *api.Task:
		return []string{"driver", "name"}
	}
	return nil
}

// JobOf is the nomad/api job a nomad.job(...) value describes (a copy), for
// `nvrun test`'s Nomad fake (state.nomad(jobs=[nomad.job(...)])). A job that holds a
// value known only after apply is refused: a described live state is known.
func JobOf(v starlark.Value) (*api.Job, error) {
	js, ok := v.(*spec[api.Job])
	if !ok {
		return nil, fmt.Errorf("want a nomad.job value, not %s", v.Type())
	}
	if js.taint != nil && len(js.taint.unknowns) > 0 {
		return nil, fmt.Errorf("job %q holds values known only after apply (%s)", *js.v.ID, js.taint.unknowns[0])
	}
	b, err := json.Marshal(js.v)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", *js.v.ID, err)
	}
	var out api.Job
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("job %q: %w", *js.v.ID, err)
	}
	return &out, nil
}
