package runtime

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

// Each unpacker, through starlark.UnpackArgs as builtins use it: what it accepts, what
// it makes of it, and the error (with UnpackArgs' "fn: for parameter p:" prefix).
func TestUnpackers(t *testing.T) {
	u := &Unknown{origin: "probe.mint", pos: "main.star:3:10"}
	sec := &Secret{value: "s3cr3t"}
	cases := []struct {
		name    string
		in      starlark.Value
		target  func() (starlark.Unpacker, func() string)
		want    string
		wantErr string
	}{
		{"duration string", starlark.String("1h30m"), durationTarget, "1h30m0s", ""},
		{"duration days", starlark.String("2d"), durationTarget, "48h0m0s", ""},
		{"duration seconds", starlark.MakeInt(90), durationTarget, "1m30s", ""},
		{"duration bad", starlark.String("soon"), durationTarget, "", `f: for parameter p: duration "soon": want e.g.`},
		{"string", starlark.String("web"), stringTarget, `"web" unknown=false`, ""},
		{"string unknown", u, stringTarget, `(known after apply: probe.mint, main.star:3:10) unknown=true`, ""},
		{"string not secret", sec, stringTarget, "", "f: for parameter p: want a string, not secret"},
		{"string None", starlark.None, stringTarget, "", "f: for parameter p: want a string, not NoneType"},
		{"optional string None", starlark.None, optStringTarget, `"" unknown=false`, ""},
		{"optional string", starlark.String("v1"), optStringTarget, `"v1" unknown=false`, ""},
		{"optional string unknown", u, optStringTarget, `(known after apply: probe.mint, main.star:3:10) unknown=true`, ""},
		{"secret plain", starlark.String("x"), secretTarget, `"x" sensitive=false`, ""},
		{"secret", sec, secretTarget, `(sensitive) sensitive=true`, ""},
		{"secret unknown", u, secretTarget, `(known after apply: probe.mint, main.star:3:10) sensitive=false`, ""},
		{"secret int", starlark.MakeInt(1), secretTarget, "", "f: for parameter p: want a string or a secret, not int"},
		{"namespace", starlark.String("/team-a/"), namespaceTarget, "team-a", ""},
		{"namespace root", starlark.None, namespaceTarget, "", ""},
		{"namespace list", starlark.NewList(nil), namespaceTarget, "", "f: for parameter p: want a string or None, not list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, show := c.target()
			err := starlark.UnpackArgs("f", starlark.Tuple{c.in}, nil, "p", target)
			switch {
			case c.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), c.wantErr)):
				t.Errorf("err = %v, want prefix %q", err, c.wantErr)
			case c.wantErr == "" && err != nil:
				t.Errorf("err = %v", err)
			case c.wantErr == "" && show() != c.want:
				t.Errorf("got %s, want %s", show(), c.want)
			}
		})
	}
}

func durationTarget() (starlark.Unpacker, func() string) {
	d := DurationArg(time.Minute)
	return &d, func() string { return d.D().String() }
}

func stringTarget() (starlark.Unpacker, func() string) {
	var s StringArg
	return &s, func() string { return fmt.Sprintf("%s unknown=%v", s.Shown(), s.IsUnknown()) }
}

func optStringTarget() (starlark.Unpacker, func() string) {
	var s OptStringArg
	return &s, func() string { return fmt.Sprintf("%s unknown=%v", s.Shown(), s.IsUnknown()) }
}

func secretTarget() (starlark.Unpacker, func() string) {
	var s SecretArg
	return &s, func() string { return fmt.Sprintf("%s sensitive=%v", s.Shown(), s.Sensitive) }
}

func namespaceTarget() (starlark.Unpacker, func() string) {
	n := NamespaceArg("before")
	return &n, func() string { return string(n) }
}

// An unpacker's default stands when the argument is left out.
func TestUnpackerDefault(t *testing.T) {
	d := DurationArg(10 * time.Second)
	if err := starlark.UnpackArgs("f", nil, nil, "timeout?", &d); err != nil || d.D() != 10*time.Second {
		t.Errorf("default: %v, %v", d.D(), err)
	}
}

func TestFingerprints(t *testing.T) {
	a := HashFingerprint(map[string]any{"x": 1, "y": []string{"a"}})
	b := HashFingerprint(map[string]any{"y": []string{"a"}, "x": 1})
	c := HashFingerprint(map[string]any{"x": 2, "y": []string{"a"}})
	if a != b || a == c || !strings.HasPrefix(string(a), "sha256:") {
		t.Errorf("hash fingerprints: equal answers %q %q, different answer %q", a, b, c)
	}
	if got := IndexFingerprint(42); got != "index:42" {
		t.Errorf("IndexFingerprint(42) = %q", got)
	}
}

func TestIsUnreachable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("consul at x: %w", &net.DNSError{Err: "no such host", Name: "x"}), true},
		{errors.New("403 permission denied"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := IsUnreachable(c.err); got != c.want {
			t.Errorf("IsUnreachable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[time.Duration]string{time.Minute: "1m", 2 * time.Hour: "2h", 90 * time.Second: "1m30s", 72 * time.Hour: "72h"} {
		if got := ShortDuration(in); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", in, got, want)
		}
	}
	if Plural(1, "task") != "1 task" || Plural(3, "group") != "3 groups" || Plural(0, "task") != "0 tasks" {
		t.Errorf("Plural: %q %q %q", Plural(1, "task"), Plural(3, "group"), Plural(0, "task"))
	}
}
