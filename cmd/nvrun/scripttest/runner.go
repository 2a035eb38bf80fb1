package scripttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Options configure a run of test files.
type Options struct {
	// Run, if set, selects the test functions whose name it matches (-run).
	Run *regexp.Regexp
	// Started and Done, if set, are told as each test starts and ends, so that the
	// command can show progress (-v) while a long file runs.
	Started func(name string)
	Done    func(Test)
}

// File is the outcome of one test file.
type File struct {
	Path     string // as the user named it (positions use it)
	Tests    []Test // the selected tests, in the file's order
	Setup    error  // the file could not be loaded (syntax error, a test_ with params...)
	Duration time.Duration
}

// Failed says whether the file failed: a setup error or a failed test.
func (f *File) Failed() bool {
	if f.Setup != nil {
		return true
	}
	for _, t := range f.Tests {
		if t.Failure != nil {
			return true
		}
	}
	return false
}

// Test is the outcome of one test function.
type Test struct {
	Name     string
	Pos      string   // file:line of its def
	Failure  *Failure // nil: passed
	Output   string   // what it print()ed
	Duration time.Duration
}

// fileOptions are the runtime's (scripts and their tests are the same dialect).
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}

// RunFile runs the selected test_* functions of one test file, each in an interpreter
// of its own: the file is executed afresh for every test, so a test never sees what
// another did to a top-level value (a state an apply() changed, say).
func RunFile(ctx context.Context, path string, opts Options) *File {
	start := time.Now()
	f := &File{Path: path}
	defer func() { f.Duration = time.Since(start) }()
	src, err := os.ReadFile(path)
	if err != nil {
		f.Setup = fmt.Errorf("%s: %w", path, err)
		return f
	}
	names, err := discover(ctx, path, src, opts.Run)
	if err != nil {
		f.Setup = err
		return f
	}
	for _, n := range names {
		if opts.Started != nil {
			opts.Started(n.name)
		}
		t := runTest(ctx, path, src, n)
		if opts.Done != nil {
			opts.Done(t)
		}
		f.Tests = append(f.Tests, t)
	}
	return f
}

type testFunc struct {
	name string
	pos  syntax.Position
}

// discover executes the file once and lists its test functions in source order. A
// test_ function that takes parameters is an error: nothing could pass them.
func discover(ctx context.Context, path string, src []byte, run *regexp.Regexp) ([]testFunc, error) {
	globals, _, done, err := execFile(ctx, path, src, nil)
	defer done()
	if err != nil {
		return nil, err
	}
	var out []testFunc
	for name, v := range globals {
		if !strings.HasPrefix(name, "test_") {
			continue
		}
		fn, ok := v.(*starlark.Function)
		if !ok {
			continue // a test_ constant is just a value
		}
		if fn.NumParams() > 0 {
			return nil, fmt.Errorf("%s: test function %s takes %d parameter(s); a test function takes none (def %s():)", posString(fn.Position()), name, fn.NumParams(), name)
		}
		if run != nil && !run.MatchString(name) {
			continue
		}
		out = append(out, testFunc{name: name, pos: fn.Position()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos.Line < out[j].pos.Line })
	return out, nil
}

func runTest(ctx context.Context, path string, src []byte, tf testFunc) (t Test) {
	start := time.Now()
	t = Test{Name: tf.name, Pos: fmt.Sprintf("%s:%d", path, tf.pos.Line)}
	var out bytes.Buffer
	defer func() {
		// A panic (a bug in nvrun or a fake) fails this test, not the whole run.
		if p := recover(); p != nil {
			t.Failure = &Failure{Pos: t.Pos, Msg: fmt.Sprintf("panic: %v (a bug in nvrun: please report it)", p)}
			t.Output, t.Duration = out.String(), time.Since(start)
		}
	}()
	globals, thread, done, err := execFile(ctx, path, src, &out)
	defer done()
	if err == nil {
		_, err = starlark.Call(thread, globals[tf.name], nil, nil)
	}
	if err != nil {
		t.Failure = failureOf(err, path)
	}
	t.Output = out.String()
	t.Duration = time.Since(start)
	return t
}

// execFile executes a test file in a fresh interpreter with the test API predeclared.
// print() goes to out (nil: discarded), shown with a failure or under -v. done stops
// the fakes the file described, once the test is over.
func execFile(ctx context.Context, path string, src []byte, out *bytes.Buffer) (globals starlark.StringDict, thread *starlark.Thread, done func(), err error) {
	t := &tester{ctx: ctx, file: path}
	thread = &starlark.Thread{
		Name: "nvrun test " + path,
		Print: func(_ *starlark.Thread, msg string) {
			if out != nil {
				fmt.Fprintln(out, msg)
			}
		},
		Load: func(*starlark.Thread, string) (starlark.StringDict, error) {
			return nil, fmt.Errorf("load() is not available in a test file: plan() and apply() run scripts, which may load")
		},
	}
	stop := context.AfterFunc(ctx, func() { thread.Cancel("interrupted") })
	done = func() { stop(); t.close() }
	globals, err = starlark.ExecFileOptions(fileOptions, thread, path, src, t.predeclared())
	if err != nil {
		return nil, nil, done, setupError(err, path)
	}
	return globals, thread, done, nil
}

// setupError is the error of executing the file's top level: a syntax error already
// says file:line:col; a runtime one gets the line of the test file that raised.
func setupError(err error, path string) error {
	if _, ok := err.(*starlark.EvalError); ok {
		return failureOf(err, path)
	}
	return err
}

func posString(p syntax.Position) string { return fmt.Sprintf("%s:%d", p.Filename(), p.Line) }
