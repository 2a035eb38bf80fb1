package runtime

import (
	"fmt"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// Argument unpackers: types a builtin passes to starlark.UnpackArgs (they implement
// starlark.Unpacker, as go.starlark.net's lib/time Duration does), so that every
// builtin accepts and rejects the same things with the same words. UnpackArgs prefixes
// their errors with "fn: for parameter name: ".

var (
	_ starlark.Unpacker = (*DurationArg)(nil)
	_ starlark.Unpacker = (*StringArg)(nil)
	_ starlark.Unpacker = (*OptStringArg)(nil)
	_ starlark.Unpacker = (*SecretArg)(nil)
	_ starlark.Unpacker = (*NamespaceArg)(nil)
)

// DurationArg is a TTL or timeout: "72h", "1h30m", "7d", or an int number of seconds
// (see Duration). Initialise it with the default before unpacking.
type DurationArg time.Duration

func (d *DurationArg) Unpack(v starlark.Value) error {
	x, err := Duration(v)
	if err != nil {
		return err
	}
	*d = DurationArg(x)
	return nil
}

// D is the duration.
func (d DurationArg) D() time.Duration { return time.Duration(d) }

// StringArg is a string that may be known only after apply (an Unknown in a plan).
type StringArg struct {
	Value   string
	Unknown *Unknown // non-nil: Value is empty and the string is known only after apply
}

func (s *StringArg) Unpack(v starlark.Value) error {
	switch x := v.(type) {
	case starlark.String:
		s.Value, s.Unknown = string(x), nil
		return nil
	case *Unknown:
		s.Value, s.Unknown = "", x
		return nil
	}
	return fmt.Errorf("want a string, not %s", v.Type())
}

// OptStringArg is an optional StringArg: None (or leaving it out) is "".
type OptStringArg struct{ StringArg }

func (s *OptStringArg) Unpack(v starlark.Value) error {
	if v == starlark.None {
		s.StringArg = StringArg{}
		return nil
	}
	return s.StringArg.Unpack(v)
}

// IsUnknown says whether the string is known only after apply.
func (s StringArg) IsUnknown() bool { return s.Unknown != nil }

// UnknownText is the Unknown's text (where it comes from), or "" for a known string.
func (s StringArg) UnknownText() string {
	if s.Unknown == nil {
		return ""
	}
	return s.Unknown.String()
}

// Shown is the string as a plan shows it: quoted, or where it comes from.
func (s StringArg) Shown() string {
	if s.Unknown != nil {
		return s.Unknown.String()
	}
	return fmt.Sprintf("%q", s.Value)
}

// SecretArg is a string or a Secret (a token, a password), or an Unknown in a plan.
// Sensitive says it came as a Secret, so the builtin keeps it out of its diff.
type SecretArg struct {
	Value     string
	Sensitive bool
	Unknown   *Unknown
}

func (s *SecretArg) Unpack(v starlark.Value) error {
	if u, ok := v.(*Unknown); ok {
		*s = SecretArg{Unknown: u}
		return nil
	}
	val, sensitive, ok := StringOrSecret(v)
	if !ok {
		return fmt.Errorf("want a string or a secret, not %s", v.Type())
	}
	*s = SecretArg{Value: val, Sensitive: sensitive}
	return nil
}

// IsUnknown says whether the value is known only after apply.
func (s SecretArg) IsUnknown() bool { return s.Unknown != nil }

// Shown is the value as a diff shows it: quoted, (sensitive), or where it comes from.
func (s SecretArg) Shown() string {
	switch {
	case s.Unknown != nil:
		return s.Unknown.String()
	case s.Sensitive:
		return Redacted
	}
	return fmt.Sprintf("%q", s.Value)
}

// NamespaceArg is a Vault (or Nomad, or Consul Enterprise) namespace path: a string,
// with leading and trailing slashes dropped, or None for the root namespace ("").
type NamespaceArg string

func (n *NamespaceArg) Unpack(v starlark.Value) error {
	switch x := v.(type) {
	case starlark.NoneType:
		*n = ""
	case starlark.String:
		*n = NamespaceArg(strings.Trim(string(x), "/"))
	default:
		return fmt.Errorf("want a string or None, not %s", v.Type())
	}
	return nil
}

// UnpackArg unpacks one argument that starlark.UnpackArgs took as a plain Value (to
// leave None or a default to the builtin), worded "fn: param: why" as nvrun's
// builtins word argument errors. UnpackArgs' own wording is "fn: for parameter "p": why".
func UnpackArg(fn, param string, v starlark.Value, into starlark.Unpacker) error {
	if err := into.Unpack(v); err != nil {
		return fmt.Errorf("%s: %s: %w", fn, param, err)
	}
	return nil
}
