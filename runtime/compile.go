package runtime

import (
	"slices"
	"strings"
	"sync"

	"go.starlark.net/starlark"
)

// execFile is starlark.ExecFileOptions with the compiled program memoised for the
// process. An apply runs its script twice (the offline preflight, then the run; three
// times with --apply-plan), and parsing and compiling a large script is a fair share of
// a run's CPU. A program depends only on its file name (positions), its source and the
// names it may use undeclared, which together are the key; Program.Init runs a compiled
// program afresh each time, so nothing of one run reaches the next.
func execFile(thread *starlark.Thread, name string, src []byte, predeclared starlark.StringDict) (starlark.StringDict, error) {
	key := programKey(name, src, predeclared)
	programs.mu.Lock()
	prog := programs.m[key]
	programs.mu.Unlock()
	if prog == nil {
		var err error
		if _, prog, err = starlark.SourceProgramOptions(fileOptions, name, src, predeclared.Has); err != nil {
			return nil, err
		}
		programs.mu.Lock()
		if programs.m == nil || len(programs.m) >= maxPrograms {
			programs.m = map[string]*starlark.Program{}
		}
		programs.m[key] = prog
		programs.mu.Unlock()
	}
	g, err := prog.Init(thread, predeclared)
	g.Freeze()
	return g, err
}

// maxPrograms bounds the memo; a run loads a handful of files.
const maxPrograms = 64

var programs struct {
	mu sync.Mutex
	m  map[string]*starlark.Program
}

func programKey(name string, src []byte, predeclared starlark.StringDict) string {
	names := predeclared.Keys() // sorted
	var b strings.Builder
	b.Grow(len(name) + len(src) + 16*len(names))
	b.WriteString(name)
	b.WriteByte(0)
	for _, n := range slices.Compact(names) {
		b.WriteString(n)
		b.WriteByte(0)
	}
	b.WriteByte(0)
	b.Write(src)
	return b.String()
}
