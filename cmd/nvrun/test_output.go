package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nvrun/nvrun/cmd/nvrun/scripttest"
)

// writeTestFile prints one test file's outcome as go test does: a failure is
// `--- FAIL: test_name (file:line)` with the message indented below it; -v adds
// `=== RUN` and `--- PASS` for every test and what it printed; the file ends with
// `ok  <path>  0.12s` or `FAIL <path>  0.12s`.
func writeTestFile(w io.Writer, f *scripttest.File, verbose bool) {
	if f.Setup != nil {
		fmt.Fprintf(w, "%s\nFAIL\t%s [setup failed]\n", f.Setup, f.Path)
		return
	}
	for _, t := range f.Tests {
		if verbose {
			fmt.Fprintf(w, "=== RUN   %s\n", t.Name)
		}
		switch {
		case t.Failure != nil:
			fmt.Fprintf(w, "--- FAIL: %s (%s)\n", t.Name, t.Failure.Pos)
			fmt.Fprint(w, indent(t.Failure.Msg))
			fmt.Fprint(w, indent(t.Output))
		case verbose:
			fmt.Fprint(w, indent(t.Output))
			fmt.Fprintf(w, "--- PASS: %s (%s)\n", t.Name, seconds(t.Duration))
		}
	}
	status, note := "ok  ", ""
	if f.Failed() {
		status = "FAIL"
	}
	if len(f.Tests) == 0 {
		note = " [no tests to run]"
	}
	fmt.Fprintf(w, "%s\t%s\t%s%s\n", status, f.Path, seconds(f.Duration), note)
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
