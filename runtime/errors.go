package runtime

import (
	"errors"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// ScriptError is a failure of the script: a syntax or resolve error, a failed builtin,
// fail(), a cancelled run. Its text carries file:line:col (the Starlark backtrace for
// runtime errors) and is already redacted.
type ScriptError struct {
	Msg string
	err error
}

func (e *ScriptError) Error() string { return e.Msg }
func (e *ScriptError) Unwrap() error { return e.err }

func (r *Run) scriptError(err error) error {
	var msg string
	var evalErr *starlark.EvalError
	var synErr syntax.Error
	var resErrs resolve.ErrorList
	var ahead *aheadFailure
	switch {
	case errors.As(err, &ahead):
		msg = ahead.eval.Backtrace()
	case errors.As(err, &evalErr):
		msg = evalErr.Backtrace()
	case errors.As(err, &synErr):
		msg = synErr.Error()
	case errors.As(err, &resErrs):
		lines := make([]string, len(resErrs))
		for i, e := range resErrs {
			lines[i] = e.Pos.String() + ": " + e.Msg
		}
		msg = strings.Join(lines, "\n")
	default:
		msg = err.Error()
	}
	return &ScriptError{Msg: r.redactor.Redact(msg), err: err}
}
