package runtime_test

import (
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

func TestDuration(t *testing.T) {
	cases := []struct {
		in      starlark.Value
		want    time.Duration
		wantErr bool
	}{
		{starlark.String("72h"), 72 * time.Hour, false},
		{starlark.String("1h30m"), 90 * time.Minute, false},
		{starlark.String("3d"), 72 * time.Hour, false},
		{starlark.String("259200"), 72 * time.Hour, false},
		{starlark.MakeInt(3600), time.Hour, false},
		{starlark.String("soon"), 0, true},
		{starlark.MakeInt(-1), 0, true},
		{starlark.Bool(true), 0, true},
	}
	for _, c := range cases {
		got, err := runtime.Duration(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("Duration(%s) = %v, %v; want %v, err=%v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func TestToGo(t *testing.T) {
	red := runtime.NewRedactor()
	_ = red
	d := starlark.NewDict(2)
	_ = d.SetKey(starlark.String("a"), starlark.NewList([]starlark.Value{starlark.MakeInt(1), starlark.String("x")}))
	_ = d.SetKey(starlark.String("b"), starlark.None)
	got, err := runtime.ToGo(d)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if l := m["a"].([]any); l[0] != int64(1) || l[1] != "x" || m["b"] != nil {
		t.Fatalf("ToGo = %#v", got)
	}
	bad := starlark.NewDict(1)
	_ = bad.SetKey(starlark.MakeInt(1), starlark.None)
	if _, err := runtime.ToGo(bad); err == nil {
		t.Fatal("int dict key accepted")
	}
}
