// Command peakrss runs a command and writes its peak resident set size (ru_maxrss, in
// bytes) to a file: `peakrss -o FILE -- CMD ARGS...`. It exits with the command's code.
//
// The bench cannot take ru_maxrss of a child it starts itself: Go starts children with
// vfork semantics (CLONE_VM), and at exec Linux folds the high-water RSS of the shared,
// parent's address space into the child's maxrss, so every child would report at least
// the bench's own RSS. Started from this small program instead, a child's figure is its
// own, floored at this program's few MiB.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() {
	out := flag.String("o", "", "write the peak RSS in bytes to this file")
	flag.Parse()
	args := flag.Args()
	if *out == "" || len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: peakrss -o FILE -- CMD ARGS...")
		os.Exit(2)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(1)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		if werr := os.WriteFile(*out, []byte(strconv.FormatInt(ru.Maxrss*1024, 10)), 0o600); werr != nil {
			fmt.Fprintln(os.Stderr, "peakrss:", werr)
			os.Exit(1)
		}
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
