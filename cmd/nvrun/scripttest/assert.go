package scripttest

import (
	"fmt"
	"regexp"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// assertModule is `assert`: eq, ne, true, contains and fails. Each failure names the
// assertion and shows both sides; an optional msg= is put first.
func assertModule() *starlarkstruct.Module {
	b := func(name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin("assert."+name, fn)
	}
	return &starlarkstruct.Module{Name: "assert", Members: starlark.StringDict{
		"eq":       b("eq", assertCompare(syntax.EQL)),
		"ne":       b("ne", assertCompare(syntax.NEQ)),
		"true":     b("true", assertTrue),
		"contains": b("contains", assertContains),
		"fails":    b("fails", assertFails),
	}}
}

func failf(fn *starlark.Builtin, msg starlark.Value, format string, args ...any) error {
	text := fmt.Sprintf(format, args...)
	if s, ok := msg.(starlark.String); ok && s != "" {
		text = string(s) + ": " + text
	}
	return &assertError{msg: fn.Name() + ": " + text}
}

func assertCompare(op syntax.Token) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var got, want starlark.Value
		var msg starlark.Value = starlark.None
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "got", &got, "want", &want, "msg?", &msg); err != nil {
			return nil, err
		}
		ok, err := starlark.Compare(op, got, want)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		if ok {
			return starlark.None, nil
		}
		if op == syntax.EQL {
			return nil, failf(fn, msg, "values differ\n  got:  %s\n  want: %s", show(got), show(want))
		}
		return nil, failf(fn, msg, "both values are %s", show(got))
	}
}

func assertTrue(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cond starlark.Value
	var msg starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "cond", &cond, "msg?", &msg); err != nil {
		return nil, err
	}
	if cond.Truth() {
		return starlark.None, nil
	}
	return nil, failf(fn, msg, "got %s", show(cond))
}

// assertContains checks membership as Starlark's `in` does: a substring of a string,
// an element of a list or tuple, a key of a dict.
func assertContains(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var container, item starlark.Value
	var msg starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "container", &container, "item", &item, "msg?", &msg); err != nil {
		return nil, err
	}
	if container == starlark.None {
		return nil, failf(fn, msg, "the container is None, so it does not contain %s", show(item))
	}
	in, err := starlark.Binary(syntax.IN, item, container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if in.Truth() {
		return starlark.None, nil
	}
	return nil, failf(fn, msg, "%s\n  does not contain %s", show(container), show(item))
}

// assertFails calls fn and checks that it fails with a message matching regex.
func assertFails(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var call starlark.Callable
	var pattern string
	var msg starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "fn", &call, "regex", &pattern, "msg?", &msg); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: bad regex: %w", fn.Name(), err)
	}
	_, callErr := starlark.Call(thread, call, nil, nil)
	if callErr == nil {
		return nil, failf(fn, msg, "%s did not fail (want an error matching %q)", call.Name(), pattern)
	}
	text := errMessage(callErr)
	if !re.MatchString(text) {
		return nil, failf(fn, msg, "the error does not match %q:\n  %s", pattern, text)
	}
	return starlark.None, nil
}

// show prints a value for a failure message: strings quoted, long values whole (a
// diff is only useful complete).
func show(v starlark.Value) string {
	if v == nil {
		return "None"
	}
	return v.String()
}
