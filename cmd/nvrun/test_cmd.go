package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nvrun/nvrun/cmd/nvrun/scripttest"
)

const testUsageLine = "usage: nvrun test [-run REGEX] [-v] [--junit FILE] [PATH...]   (nvrun test --help for all flags)"

type testFlags struct {
	run     *regexp.Regexp
	verbose bool
	junit   string
	paths   []string
}

// isTestCommand says whether args are `nvrun test ...`. Only a first argument that is
// exactly "test" is the command: a script named test runs as `nvrun ./test`.
func isTestCommand(args []string) bool { return len(args) > 0 && args[0] == "test" }

// testMain is `nvrun test [PATH...]` (README "Testing your scripts"): 0 when every test
// passes, 1 when one fails or a test file cannot be loaded, 2 on a usage error.
func testMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseTestFlags(args, stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "nvrun test: %v\n%s\n", err, testUsageLine)
		return exitUsage
	}
	files, err := findTestFiles(f.paths)
	if err != nil {
		fmt.Fprintf(stderr, "nvrun test: %v\n%s\n", err, testUsageLine)
		return exitUsage
	}
	if len(files) == 0 {
		// Not a pass: a CI job whose tests were all moved away should not go green.
		fmt.Fprintf(stderr, "nvrun test: no *_test.star files in %s\n", strings.Join(f.paths, " "))
		return exitError
	}
	var results []*scripttest.File
	failed := false
	rep := testReporter{w: stdout, verbose: f.verbose}
	opts := scripttest.Options{Run: f.run, Started: rep.started, Done: rep.done}
	for _, path := range files {
		res := scripttest.RunFile(ctx, path, opts)
		rep.file(res)
		results = append(results, res)
		failed = failed || res.Failed()
		if ctx.Err() != nil {
			break
		}
	}
	if f.junit != "" {
		if err := writeJUnit(f.junit, results); err != nil {
			fmt.Fprintf(stderr, "nvrun test: --junit: %v\n", err)
			return exitError
		}
	}
	if failed || ctx.Err() != nil {
		fmt.Fprintln(stdout, "FAIL")
		return exitError
	}
	return exitOK
}

func parseTestFlags(args []string, stderr io.Writer) (*testFlags, error) {
	f := &testFlags{}
	var run string
	fs := pflag.NewFlagSet("nvrun test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&run, "run", "", "run only the test functions whose name matches REGEX (Go syntax), as go test -run")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "print every test as it runs (=== RUN, --- PASS) and what it printed")
	fs.StringVar(&f.junit, "junit", "", "also write the results as JUnit XML to FILE, for CI systems")
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(goStyleFlags(args)); err != nil {
		return nil, err
	}
	if *help {
		fmt.Fprintf(stderr, "%s\n\nFinds *_test.star files (default: the current directory, recursively) and runs\n"+
			"every top-level test_* function. Exit 0: all passed; 1: a test failed; 2: usage error.\n\nFlags:\n%s",
			strings.TrimPrefix(testUsageLine, "usage: "), fs.FlagUsages())
		return nil, errHelp
	}
	if fs.Changed("run") {
		re, err := regexp.Compile(run)
		if err != nil {
			return nil, fmt.Errorf("-run: %w", err)
		}
		f.run = re
	}
	if fs.Changed("junit") && f.junit == "" {
		return nil, fmt.Errorf("--junit needs a FILE")
	}
	f.paths = fs.Args()
	if len(f.paths) == 0 {
		f.paths = []string{"."}
	}
	return f, nil
}

// goStyleFlags accepts go test's spelling of the long flags (-run X, -junit=F) as well
// as the double-dash one: pflag would read -run as -r -u -n.
func goStyleFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		for _, name := range []string{"run", "junit", "verbose", "help"} {
			if a == "-"+name || strings.HasPrefix(a, "-"+name+"=") {
				a = "-" + a
				break
			}
		}
		out = append(out, a)
	}
	return out
}
