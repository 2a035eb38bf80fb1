package runtime

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// A memoised program runs afresh each time: a second run sees its own globals, not the
// first run's, and a changed source, name or set of predeclared names compiles anew.
func TestExecFileMemo(t *testing.T) {
	counter := func(n int) starlark.StringDict {
		return starlark.StringDict{"start": starlark.MakeInt(n)}
	}
	src := []byte("x = [start]\nx.append(1)\ny = len(x) + start\n")
	cases := []struct {
		name        string
		src         []byte
		predeclared starlark.StringDict
		wantY       string
		wantErr     string
	}{
		{"a.star", src, counter(10), "12", ""},
		{"a.star", src, counter(20), "22", ""}, // same program, new values
		{"a.star", src, counter(20), "22", ""},
		{"a.star", []byte("y = start * 2\n"), counter(3), "6", ""},                 // same name, new source
		{"a.star", src, starlark.StringDict{}, "", "a.star:1:6: undefined: start"}, // start not predeclared
		{"b.star", []byte("y = ["), counter(1), "", "b.star:1:6"},
	}
	for i, c := range cases {
		g, err := execFile(&starlark.Thread{}, c.name, c.src, c.predeclared)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("case %d: error %v, want %q", i, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := g["y"].String(); got != c.wantY {
			t.Errorf("case %d: y = %s, want %s", i, got, c.wantY)
		}
		if x, ok := g["x"].(*starlark.List); ok && x.Append(starlark.None) == nil {
			// Freeze is ExecFileOptions' contract: a loaded module's values are immutable.
			t.Errorf("case %d: globals not frozen", i)
		}
	}
}
