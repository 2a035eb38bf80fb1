// Package fakenet serves HTTP in memory, for `nvrun test`: a fake server (an
// http.Handler beside its builtin, e.g. builtins/vault/vaultfake) answers a builtin's
// requests without a socket, and a server the test does not describe answers like one
// that is down, so the builtin's own code plans it as unreachable.
package fakenet

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
)

// Transport answers every request with h, in memory. The request goes through the
// handler as the server would see it (body, headers, URL), and the answer comes back
// as a real *http.Response, so the builtin's client decodes it exactly as it would the
// real server's.
func Transport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	if req.Body != nil {
		req.Body.Close()
	}
	res := rec.Result()
	res.Request = req
	return res, nil
}

// Unreachable answers every request with "connection refused", which
// runtime.IsUnreachable recognises: a plan plans that module as offline, with the one
// warning every module shares. name says which server it stands for ("vault").
func Unreachable(name string) http.RoundTripper { return unreachable{name} }

type unreachable struct{ name string }

func (u unreachable) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%s is not described by the test's state: %w", u.name, syscall.ECONNREFUSED)}
}
