package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The shipped script tests (scripts/*_test.star) pass, so `go test ./...` and `make
// test` cover them, and every script in scripts/ has one.
func TestShippedScriptTests(t *testing.T) {
	scripts, err := filepath.Glob("scripts/*.star")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range scripts {
		if strings.HasSuffix(s, "_test.star") {
			continue
		}
		test := strings.TrimSuffix(s, ".star") + "_test.star"
		if !exists(test) {
			t.Errorf("%s has no test file %s", s, test)
		}
		want = append(want, test)
	}
	if len(want) < 2 {
		t.Fatalf("found %d scripts in scripts/, want guide.star and workload-identity.star at least", len(want))
	}
	r := nvrun(t, nil, nil, "test", "-v", "scripts/")
	if r.code != 0 {
		t.Fatalf("nvrun test scripts/: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, f := range want {
		if !regexp.MustCompile(`(?m)^ok  \t` + regexp.QuoteMeta(f) + `\t`).MatchString(r.stdout) {
			t.Errorf("no ok line for %s:\n%s", f, r.stdout)
		}
	}
	passed := strings.Count(r.stdout, "--- PASS: ")
	if passed < 10 || strings.Contains(r.stdout, "--- FAIL") {
		t.Errorf("%d tests passed, want every shipped test (at least 10) and no failure:\n%s", passed, r.stdout)
	}
}

func exists(path string) bool {
	m, err := filepath.Glob(path)
	return err == nil && len(m) == 1
}
