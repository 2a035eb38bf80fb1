package runtime

import (
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// A panic in a builtin is a bug in nvrun, but it must not crash past the redactor (Go
// prints the panic value, which may hold a token, to raw stderr) nor skip the end-of-run
// cleanup (lease revocation). So every module builtin is wrapped: a panic becomes an
// error naming the builtin, which ends the script like any failed builtin, and exec
// redacts it and runs the deferred cleanup. A builtin returned by a guarded builtin, or
// held in a Struct, is guarded too; execMain is the backstop for any other.

// guard wraps each builtin of a module value (a builtin, or a module of builtins).
func guard(v starlark.Value) starlark.Value {
	switch v := v.(type) {
	case *starlark.Builtin:
		return guardBuiltin(v)
	case *starlarkstruct.Module:
		members := make(starlark.StringDict, len(v.Members))
		for k, m := range v.Members {
			members[k] = guard(m)
		}
		return &starlarkstruct.Module{Name: v.Name, Members: members}
	}
	return v
}

func guardBuiltin(b *starlark.Builtin) *starlark.Builtin {
	return starlark.NewBuiltin(b.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (v starlark.Value, err error) {
		defer func() {
			if p := recover(); p != nil {
				v, err = nil, panicError(b.Name(), p)
			}
		}()
		v, err = b.CallInternal(thread, args, kwargs)
		if f, ok := v.(*starlark.Builtin); ok { // a builtin made by a builtin
			v = guardBuiltin(f)
		}
		return v, err
	})
}

// execMain runs the main script, turning a panic that no guard caught into an error.
func (r *Run) execMain() (_ starlark.StringDict, err error) {
	defer func() {
		if p := recover(); p != nil {
			// Starlark has popped its frames by now: the step is the best position left.
			err = fmt.Errorf("%s: %s%w", r.loader.prefix+filepath.Base(r.loader.main), r.stepContext(), panicError("a builtin", p))
		}
	}()
	return r.loader.loadMain(r.thread)
}

// PanicError is a recovered panic. Its text goes through the redactor like any error.
type PanicError struct {
	Builtin string
	Value   any
	Where   string // the Go function and line that panicked, for the bug report
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error in %s (a bug in nvrun; please report it): panic: %v [at %s]", e.Builtin, e.Value, e.Where)
}

func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

func panicError(builtin string, p any) *PanicError {
	return &PanicError{Builtin: builtin, Value: p, Where: panicSite()}
}

// panicSite is the frame that panicked: called from a deferred function, the panicking
// frames are still on the stack, below Go's runtime.gopanic.
func panicSite() string {
	pcs := make([]uintptr, 64)
	n := goruntime.Callers(3, pcs)
	frames := goruntime.CallersFrames(pcs[:n])
	inPanic := false
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			inPanic = true
		} else if inPanic && !strings.HasPrefix(f.Function, "runtime.") {
			file := f.File
			if i := strings.LastIndex(file, "/"); i >= 0 {
				file = file[i+1:]
			}
			return fmt.Sprintf("%s %s:%d", f.Function, file, f.Line)
		}
		if !more {
			return "?"
		}
	}
}
