package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nvrun/nvrun/cmd/nvrun/scripttest"
)

// testReporter prints test outcomes as go test does, each as soon as it is known: a
// failure is `--- FAIL: test_name (file:line)` with the message indented below it; -v
// adds `=== RUN` and `--- PASS` for every test and what it printed; a file ends with
// `ok  <path>  0.12s` or `FAIL <path>  0.12s`.
type testReporter struct {
	w       io.Writer
	verbose bool
}

func (r testReporter) started(name string) {
	if r.verbose {
		fmt.Fprintf(r.w, "=== RUN   %s\n", name)
	}
}

func (r testReporter) done(t scripttest.Test) {
	switch {
	case t.Failure != nil:
		fmt.Fprintf(r.w, "--- FAIL: %s (%s)\n", t.Name, t.Failure.Pos)
		fmt.Fprint(r.w, indent(t.Failure.Msg))
		fmt.Fprint(r.w, indent(t.Output))
	case r.verbose:
		fmt.Fprint(r.w, indent(t.Output))
		fmt.Fprintf(r.w, "--- PASS: %s (%s)\n", t.Name, seconds(t.Duration))
	}
}

// file prints a file's last line (after its tests), or why it could not load.
func (r testReporter) file(f *scripttest.File) {
	if f.Setup != nil {
		fmt.Fprintf(r.w, "%s\nFAIL\t%s [setup failed]\n", f.Setup, f.Path)
		return
	}
	status, note := "ok  ", ""
	if f.Failed() {
		status = "FAIL"
	}
	if len(f.Tests) == 0 {
		note = " [no tests to run]"
	}
	fmt.Fprintf(r.w, "%s\t%s\t%s%s\n", status, f.Path, seconds(f.Duration), note)
}

// indent puts four spaces before every line of s, as go test shows a test's log.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
