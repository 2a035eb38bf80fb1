package main

import (
	"runtime/debug"
	"testing"
)

// tuneGC sets GOGC=400 and a 40 MiB soft limit, unless the user set GOGC or GOMEMLIMIT.
func TestTuneGC(t *testing.T) {
	oldPercent, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) }()
	for _, tc := range []struct {
		env         map[string]string
		wantPercent int
	}{
		{map[string]string{}, 400},
		{map[string]string{"GOGC": "50"}, 100},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, 100},
	} {
		debug.SetGCPercent(100)
		tuneGC(func(k string) string { return tc.env[k] })
		if got := debug.SetGCPercent(100); got != tc.wantPercent {
			t.Errorf("env %v: GC percent %d, want %d", tc.env, got, tc.wantPercent)
		}
		if tc.wantPercent == 400 {
			if got := debug.SetMemoryLimit(-1); got != 40<<20 {
				t.Errorf("memory limit %d, want 40 MiB", got)
			}
		}
	}
}
