package fakenet

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestStateArgs(t *testing.T) {
	kw := func(pairs ...any) []starlark.Tuple {
		var out []starlark.Tuple
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, starlark.Tuple{starlark.String(pairs[i].(string)), starlark.MakeInt(pairs[i+1].(int))})
		}
		return out
	}
	got, err := StateArgs("state.x", nil, kw("kv", 1, "services", 2), "services", "kv")
	if err != nil || len(got) != 2 || got["kv"] != starlark.MakeInt(1) {
		t.Fatalf("StateArgs = %v, %v", got, err)
	}
	for _, tc := range []struct {
		args starlark.Tuple
		kw   []starlark.Tuple
		want string
	}{
		{nil, kw("servces", 1), `state.x: unknown key "servces" (did you mean "services"?); valid: kv, services`},
		{nil, kw("zzzzzzzz", 1), `state.x: unknown key "zzzzzzzz"; valid: kv, services`},
		{nil, kw("kv", 1, "kv", 2), `state.x: key "kv" given twice`},
		{starlark.Tuple{starlark.None}, nil, `state.x: give keyword arguments only (kv=, services=)`},
	} {
		_, err := StateArgs("state.x", tc.args, tc.kw, "services", "kv")
		if err == nil || err.Error() != tc.want {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
	if err := WrongType("state.x", "kv", "a dict", starlark.NewList(nil)); !strings.Contains(err.Error(), "state.x: kv: want a dict, not list") {
		t.Errorf("WrongType = %v", err)
	}
}
