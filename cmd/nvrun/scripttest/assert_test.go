package scripttest

import (
	"context"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestAssert(t *testing.T) {
	for _, tt := range []struct {
		src  string
		fail string // "" means it passes
	}{
		{`assert.eq([1, "a"], [1, "a"])`, ""},
		{`assert.eq(struct(a = 1), struct(a = 1))`, ""},
		{`assert.eq(1, 2)`, "assert.eq: values differ\n  got:  1\n  want: 2"},
		{`assert.eq("a", "b", msg = "names")`, `assert.eq: names: values differ`},
		{`assert.ne(1, 2)`, ""},
		{`assert.ne("x", "x")`, `assert.ne: both values are "x"`},
		{`assert.true([1])`, ""},
		{`assert.true(None, "must be set")`, "assert.true: must be set: got None"},
		{`assert.contains("hello world", "o w")`, ""},
		{`assert.contains({"k": 1}, "k")`, ""},
		{`assert.contains(["a"], "b")`, "assert.contains: [\"a\"]\n  does not contain \"b\""},
		{`assert.contains(None, "b")`, `assert.contains: the container is None, so it does not contain "b"`},
		{`assert.fails(lambda: fail("boom 42"), "boom [0-9]+")`, ""},
		{`assert.fails(lambda: None, "x")`, `assert.fails: lambda did not fail (want an error matching "x")`},
		{`assert.fails(lambda: fail("other"), "^boom")`, "assert.fails: the error does not match \"^boom\":\n  fail: other"},
		{`assert.fails(lambda: assert.eq(1, 2), "values differ")`, ""},
	} {
		tr := &tester{ctx: context.Background(), file: "x_test.star"}
		thread := &starlark.Thread{}
		_, err := starlark.ExecFileOptions(fileOptions, thread, "x_test.star", "def test():\n    "+tt.src+"\ntest()\n", tr.predeclared())
		switch {
		case tt.fail == "" && err != nil:
			t.Errorf("%s: %v", tt.src, err)
		case tt.fail != "" && err == nil:
			t.Errorf("%s passed, want a failure %q", tt.src, tt.fail)
		case tt.fail != "":
			f := failureOf(err, "x_test.star")
			if f.Pos != "x_test.star:2" || !strings.HasPrefix(f.Msg, tt.fail) {
				t.Errorf("%s: failure %s: %q, want x_test.star:2: %q", tt.src, f.Pos, f.Msg, tt.fail)
			}
		}
	}
}
