package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// TestBadCorpus runs every script in testdata/bad. Each names, in header comments, the
// flags to run it with (# flags:) and a regexp its error must match (# want:), which
// names file:line or the flag at fault. Each must exit non-zero and perform no effect,
// in apply mode (the preflight must stop it) and in plan mode.
func TestBadCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.star")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("the bad corpus has %d scripts, want at least 25", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".star"), func(t *testing.T) {
			flags, want := corpusHeader(t, file)
			for _, mode := range []string{"apply", "plan"} {
				srv := runtimetest.NewServer()
				args := append([]string{}, flags...)
				if mode == "plan" {
					args = append(args, "--plan")
				}
				res := nvrun(t, srv, nil, append(args, file)...)
				if res.code == 0 {
					t.Fatalf("%s: exit 0, want non-zero; stdout:\n%s", mode, res.stdout)
				}
				if !want.MatchString(res.stderr) {
					t.Fatalf("%s: stderr does not match %q:\n%s", mode, want, res.stderr)
				}
				if srv.Writes() != 0 {
					t.Fatalf("%s: %d effects performed, want 0", mode, srv.Writes())
				}
			}
		})
	}
}

func corpusHeader(t *testing.T, file string) (flags []string, want *regexp.Regexp) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# flags: "); ok {
			flags = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "# want: "); ok {
			want = regexp.MustCompile("(?s)" + v)
		}
	}
	if want == nil {
		t.Fatalf("%s has no # want: line", file)
	}
	return flags, want
}
