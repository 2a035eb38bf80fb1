package runtime

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Unknown is a value that only apply can know, such as the root token in a plan.
// Attribute and index access give more Unknowns; in text it names where it comes from.
//
// Branching on an Unknown (if, and/or, bool(), iterating it) cannot be answered. Rather
// than let the plan silently take one side, the run records a warning naming both the
// branch and the value's origin, and marks the plan incomplete.
type Unknown struct {
	run    *Run
	origin string // builtin name, e.g. "vault.init"
	path   string // ".root_token", "[0]"
	pos    string // file:line of the call that made it
}

var (
	_ starlark.HasAttrs  = (*Unknown)(nil)
	_ starlark.Mapping   = (*Unknown)(nil)
	_ starlark.Sequence  = (*Unknown)(nil)
	_ starlark.HasBinary = (*Unknown)(nil)
	_ starlark.Callable  = (*Unknown)(nil)
)

// Unknown returns a value known only after apply, originating from the builtin being
// called on thread.
func (r *Run) Unknown(thread *starlark.Thread) *Unknown {
	return &Unknown{run: r, origin: builtinName(thread), pos: callerPos(thread)}
}

// IsUnknown reports whether v is, or (for lists, tuples, dicts and structs with
// Unknown fields) contains, an Unknown.
func IsUnknown(v starlark.Value) bool {
	switch v := v.(type) {
	case *Unknown:
		return true
	case starlark.String, starlark.Int, starlark.Bool, starlark.Float, starlark.NoneType, starlark.Bytes, *Secret:
		// Scalars hold nothing unknown. A string has attributes too (its methods), and
		// walking them built ~45 builtins per string: a tenth of the CPU of applying a
		// script of 2,000 resources.
		return false
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			if IsUnknown(v.Index(i)) {
				return true
			}
		}
	case starlark.Tuple:
		for _, e := range v {
			if IsUnknown(e) {
				return true
			}
		}
	case *starlark.Dict:
		for _, it := range v.Items() {
			if IsUnknown(it[0]) || IsUnknown(it[1]) {
				return true
			}
		}
	case starlark.HasAttrs:
		for _, n := range v.AttrNames() {
			if a, err := v.Attr(n); err == nil && a != nil {
				if _, isFn := a.(*starlark.Builtin); !isFn && IsUnknown(a) {
					return true
				}
			}
		}
	}
	return false
}

func (u *Unknown) String() string {
	return fmt.Sprintf("(known after apply: %s%s, %s)", u.origin, u.path, u.pos)
}
func (u *Unknown) Type() string          { return "unknown" }
func (u *Unknown) Freeze()               {}
func (u *Unknown) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", u) }

// Truth is asked when a script branches. We cannot know the answer, so we say so.
func (u *Unknown) Truth() starlark.Bool {
	u.run.branchedOnUnknown(u)
	return starlark.False
}

func (u *Unknown) derive(path string) *Unknown {
	return &Unknown{run: u.run, origin: u.origin, path: u.path + path, pos: u.pos}
}

func (u *Unknown) Attr(name string) (starlark.Value, error) { return u.derive("." + name), nil }
func (u *Unknown) AttrNames() []string                      { return nil }

func (u *Unknown) Get(k starlark.Value) (starlark.Value, bool, error) {
	return u.derive("[" + k.String() + "]"), true, nil
}

func (u *Unknown) Iterate() starlark.Iterator {
	u.run.branchedOnUnknown(u)
	return emptyIterator{}
}

// Len is asked by len(); like a branch, the answer cannot be known, so it is flagged and
// the plan marked incomplete (0 lets the script go on to show the rest of its plan).
func (u *Unknown) Len() int {
	u.run.branchedOnUnknown(u)
	return 0
}

// Binary keeps arithmetic and concatenation unknown: "db/" + unknown is unknown.
func (u *Unknown) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	return u.derive(" " + op.String() + " …"), nil
}

// Name and CallInternal let a script call a method on an Unknown (x.json()).
func (u *Unknown) Name() string { return u.String() }
func (u *Unknown) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return u.derive("()"), nil
}

type emptyIterator struct{}

func (emptyIterator) Next(*starlark.Value) bool { return false }
func (emptyIterator) Done()                     {}

// builtinName is the name of the builtin executing on thread (the top frame), e.g.
// "vault.init".
func builtinName(thread *starlark.Thread) string {
	if thread == nil || thread.CallStackDepth() == 0 {
		return "?"
	}
	return thread.CallFrame(0).Name
}

// callerPos is the file:line of the innermost Starlark (non-builtin) frame.
func callerPos(thread *starlark.Thread) string {
	if thread == nil {
		return "?"
	}
	for i := 0; i < thread.CallStackDepth(); i++ {
		pos := thread.CallFrame(i).Pos
		if pos.Filename() != "<builtin>" && pos.IsValid() {
			return fmt.Sprintf("%s:%d", pos.Filename(), pos.Line)
		}
	}
	return "?"
}

// CallerPos is the file:line of the script line calling the current builtin.
func CallerPos(thread *starlark.Thread) string { return callerPos(thread) }
