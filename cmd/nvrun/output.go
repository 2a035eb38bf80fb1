package main

import (
	"fmt"
	"io"
)

// stdoutWriter remembers the first failed write on stdout. The plan, the apply summary
// and the --json record are what the user asked for: when they are lost (a full disk, a
// closed pipe), nvrun must not exit as if all went well.
type stdoutWriter struct {
	w   io.Writer
	err error
}

func (s *stdoutWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err // no point writing half a document after a lost part
	}
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = err
	}
	return n, err
}

// exitCode turns a success (0, or 2 for changes) into an error when stdout failed; an
// error's own code is kept.
func (s *stdoutWriter) exitCode(stderr io.Writer, code int) int {
	if s.err == nil {
		return code
	}
	fmt.Fprintf(stderr, "nvrun: writing to stdout: %v\n", s.err)
	if code == exitOK || code == exitChanges {
		return exitError
	}
	return code
}
