package main

import (
	"strings"
	"testing"
)

// TestJudge: the harness's verdict on one upstream outcome, as root and as another
// user. A RequireRoot test is expected to skip exactly when not root; any other skip,
// an unexpected failure and an unexpected pass are reported.
func TestJudge(t *testing.T) {
	const rootSkip = "--- SKIP: TestAllocations_List\n    slow.go:34: test requires root\n"
	cases := []struct {
		name, test, got, output string
		asRoot                  bool
		want                    string // a substring of the verdict; "" for none
	}{
		{"root test passes as root", "TestAllocations_List", "pass", "", true, ""},
		{"root test fails as root", "TestAllocations_List", "fail", "boom", true, "failed, expected to pass"},
		{"root test skips as root", "TestAllocations_List", "skip", rootSkip, true, "was skipped"},
		{"root test skips as non-root", "TestAllocations_List", "skip", rootSkip, false, ""},
		{"root test passes as non-root", "TestAllocations_List", "pass", "", false, "expected its root skip, got pass"},
		{"root test skips for another reason", "TestAllocations_List", "skip", "nomad not found, skipping", false, "expected its root skip"},
		{"listed failing test fails", "TestJobs_Parse", "fail", "404", false, ""},
		{"listed failing test passes", "TestJobs_Parse", "pass", "", true, "listed as failing"},
		{"passing test skips", "TestJobs_Info", "skip", "nomad not found, skipping", false, "was skipped"},
		{"passing test fails", "TestJobs_Info", "fail", "boom", true, "failed, expected to pass"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := judge(c.test, c.got, c.output, c.asRoot)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("judge = %q, want %q", got, c.want)
			}
		})
	}
}
