package vault

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

// An answer cut off after the request was sent says so, and that a write may have been
// applied; a refused connection is still "unreachable".
func TestExplainCutOff(t *testing.T) {
	v := &vault{addr: "http://127.0.0.1:1"}
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"refused", refused, "Vault at http://127.0.0.1:1 is unreachable: dial tcp: connection refused"},
		{"dropped before the answer", &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/x", Err: io.EOF},
			"Vault at http://127.0.0.1:1 cut its answer off (EOF): a write may have been applied; re-running finds out"},
		{"body cut off", fmt.Errorf("decoding: %w", io.ErrUnexpectedEOF),
			"Vault at http://127.0.0.1:1 cut its answer off (decoding: unexpected EOF): a write may have been applied"},
		{"other", errors.New("x"), "Vault at http://127.0.0.1:1: x"},
	}
	for _, c := range cases {
		if got := v.explain(c.err).Error(); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
