package scripttest

import (
	"errors"
	"fmt"

	"go.starlark.net/starlark"
)

// Failure is why a test failed: the test file's line that failed (an assert call, or
// the line whose call raised) and the message.
type Failure struct {
	Pos string // file:line in the test file
	Msg string
}

func (f *Failure) Error() string { return f.Pos + ": " + f.Msg }

// assertError is what a failed assert.* returns; its message is shown as is.
type assertError struct{ msg string }

func (e *assertError) Error() string { return e.msg }

// failureOf turns the error of a test function's call into a Failure placed at the
// innermost line of the test file itself: the assert call, or the call that raised
// (plan() with a path outside the tree, state.vault with an unknown key). A line inside
// a helper the test file defines is the helper's line, as a backtrace would show.
func failureOf(err error, file string) *Failure {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return &Failure{Pos: file, Msg: err.Error()}
	}
	pos := ""
	for i := len(ee.CallStack) - 1; i >= 0; i-- {
		p := ee.CallStack[i].Pos
		if p.Filename() == file && p.IsValid() {
			pos = fmt.Sprintf("%s:%d", p.Filename(), p.Line)
			break
		}
	}
	if pos == "" {
		pos = file
	}
	msg := ee.Msg
	var ae *assertError
	if errors.As(err, &ae) {
		msg = ae.msg
	}
	return &Failure{Pos: pos, Msg: msg}
}

// errMessage is an error's message without a Starlark backtrace (assert.fails matches
// its regex against it, as the user reads it).
func errMessage(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Msg
	}
	return err.Error()
}
