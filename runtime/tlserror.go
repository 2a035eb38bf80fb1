package runtime

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// IsTLSError says whether err is a TLS failure: a certificate that does not verify
// (unknown authority, wrong host name, expired), a TLS alert from the server, or a
// server that answered a TLS handshake with plain HTTP. Each means a server answered,
// so the builtins never count it as "unreachable" (which a live plan forgives by going
// offline): it is an error the user must fix (a CA file, the address's scheme).
func IsTLSError(err error) bool {
	if err == nil {
		return false
	}
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	var op *net.OpError
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &host),
		errors.As(err, &invalid), errors.As(err, &header), errors.As(err, &alert):
		return true
	case errors.As(err, &op) && op.Op == "remote error":
		// An alert the server sent (crypto/tls wraps it, unexported, in this OpError):
		// "remote error: tls: bad certificate", say, for a missing client certificate.
		return true
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http replaces the tls.RecordHeaderError with a plain error of this text.
		return true
	}
	return false
}
