package vault

import (
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// placeholderName is what a substitute= key may be: a word that cannot be confused
// with policy syntax (AUTH_METHOD_ACCESSOR, as `nomad setup vault` writes it).
var placeholderName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// substituteValue is what a placeholder may be replaced with: an accessor, a mount
// path segment. Nothing that could end a quoted path or open an HCL expression.
var substituteValue = regexp.MustCompile(`^[A-Za-z0-9_.\-]+$`)

// substitute replaces vault.policy's placeholders in the policy text. A placeholder whose
// value is unknown (a plan) stays as written, and pending says what it stands for.
func substitute(text string, d *starlark.Dict) (out string, pending []string, err error) {
	if d == nil {
		return text, nil, nil
	}
	for _, it := range d.Items() {
		key, ok := starlark.AsString(it[0])
		if !ok || !placeholderName.MatchString(key) {
			return "", nil, fmt.Errorf("substitute: placeholder %s is not a word (letters, digits, _)", it[0])
		}
		if !strings.Contains(text, key) {
			return "", nil, fmt.Errorf("substitute: placeholder %q does not occur in the rules", key)
		}
		switch val := it[1].(type) {
		case *runtime.Unknown:
			pending = append(pending, fmt.Sprintf("%s is %s", key, val))
		case starlark.String:
			if !substituteValue.MatchString(string(val)) {
				return "", nil, fmt.Errorf("substitute: %s: %q is not a plain name (letters, digits, _ . -)", key, string(val))
			}
			text = strings.ReplaceAll(text, key, string(val))
		default:
			return "", nil, fmt.Errorf("substitute: %s: want a string, not %s", key, it[1].Type())
		}
	}
	return text, pending, nil
}
