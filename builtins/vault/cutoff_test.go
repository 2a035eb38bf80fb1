package vault

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
)

// A connection cut after the request was sent is not "unreachable" (a live plan would
// plan offline and say nothing): Vault may have acted on it.
func TestCutOffIsNotUnreachable(t *testing.T) {
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name                 string
		err                  error
		unreachable, cutOffs bool
	}{
		{"refused", refused, true, false},
		{"dropped before the answer", &url.Error{Op: "Put", URL: "http://127.0.0.1:1/v1/x", Err: io.EOF}, false, true},
		{"body cut off", fmt.Errorf("decoding: %w", io.ErrUnexpectedEOF), false, true},
		{"other", errors.New("x"), false, false},
	}
	for _, c := range cases {
		if got := isUnreachable(c.err); got != c.unreachable {
			t.Errorf("%s: isUnreachable = %v", c.name, got)
		}
		if got := cutOff(c.err); got != c.cutOffs {
			t.Errorf("%s: cutOff = %v", c.name, got)
		}
	}
}
