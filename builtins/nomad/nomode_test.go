package nomad

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The module declares resources and queries; the runtime alone decides the mode. No
// non-test file may ask it (issue: the runtime owns resources).
func TestNeverAsksTheMode(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files: %v", err)
	}
	asks := regexp.MustCompile(`\.(Mode|Offline)\(\)`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if asks.MatchString(line) {
				t.Errorf("%s:%d asks the run's mode: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
