package runtime

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Secret is a sensitive string: a token, an unseal key, a password. It prints as
// (sensitive) and has no attribute that reveals it; only builtins unwrap it. Every Secret
// made through Run.Secret is registered with the run's redactor, so even a leak through
// an error message or a server's echo is scrubbed from output.
type Secret struct {
	value string
}

var (
	_ starlark.Value      = (*Secret)(nil)
	_ starlark.Comparable = (*Secret)(nil)
	_ starlark.HasBinary  = (*Secret)(nil)
)

func (s *Secret) String() string        { return Redacted }
func (s *Secret) Type() string          { return "secret" }
func (s *Secret) Freeze()               {}
func (s *Secret) Truth() starlark.Bool  { return s.value != "" }
func (s *Secret) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: secret") }

// Reveal returns the plain value. Only builtins call it, to send it to a server.
func (s *Secret) Reveal() string { return s.value }

// CompareSameType lets scripts test two secrets for equality without seeing either.
func (s *Secret) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	o := y.(*Secret)
	switch op {
	case syntax.EQL:
		return s.value == o.value, nil
	case syntax.NEQ:
		return s.value != o.value, nil
	}
	return false, fmt.Errorf("secrets cannot be ordered")
}

// Binary allows "prefix" + secret, which stays a secret (e.g. building an auth header).
func (s *Secret) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	if op != syntax.PLUS {
		return nil, nil
	}
	var other string
	switch y := y.(type) {
	case starlark.String:
		other = string(y)
	case *Secret:
		other = y.value
	default:
		return nil, nil
	}
	if side == starlark.Left {
		return &Secret{value: s.value + other}, nil
	}
	return &Secret{value: other + s.value}, nil
}

// Secret wraps a sensitive string and registers it for redaction.
func (r *Run) Secret(value string) *Secret {
	r.redactor.Add(value)
	return &Secret{value: value}
}

// StringOrSecret unwraps a string or Secret argument. The second result says whether the
// value was sensitive, so a builtin can keep it out of its diff.
func StringOrSecret(v starlark.Value) (value string, sensitive bool, ok bool) {
	switch v := v.(type) {
	case starlark.String:
		return string(v), false, true
	case *Secret:
		return v.value, true, true
	}
	return "", false, false
}
