package runtime

import (
	"errors"
	"net"
	"net/url"
	"syscall"
)

// IsUnreachable says whether err means nothing answered (refused, timed out, no route,
// unresolvable host), as opposed to an answer a builtin did not like. A plan forgives
// it (Run.Converge and Run.Query plan the rest of the module offline); an apply does not.
//
// A TLS failure (a certificate nvrun does not trust) is an answer, so it is never
// unreachable: a live plan fails on it rather than planning as if offline.
func IsUnreachable(err error) bool {
	if err == nil || IsTLSError(err) {
		return false
	}
	var op *net.OpError
	var dnsErr *net.DNSError
	var uerr *url.Error
	switch {
	case errors.As(err, &op), errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED):
		return true
	case errors.As(err, &uerr):
		return uerr.Timeout()
	}
	return false
}
