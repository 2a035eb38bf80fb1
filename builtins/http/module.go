// Package http is the `http` builtin module: HTTP requests that check their answer
// (status, body text), optionally retrying until it holds.
//
// A GET is a read: recorded as one, and sent in a live plan so the plan can show what it
// finds. Other methods are calls: recorded, and sent only by apply (unless the script
// says read_only=True). An offline plan sends nothing. The runtime decides which of
// these happen (runtime.Query); the module only declares what a request reads and sends.
package http

import (
	"net"
	"net/http"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Options tune the module; the zero value is what nvrun uses.
type Options struct {
	// WrapTransport wraps the HTTP transport of the run's client, so a test can count or
	// alter the requests nvrun really sends.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Module returns the http module.
func Module(opts Options) runtime.Module {
	return runtime.Module{Name: "http", New: func(r *runtime.Run) (starlark.Value, error) {
		m := &httpModule{run: r, opts: opts}
		return &starlarkstruct.Module{Name: "http", Members: starlark.StringDict{
			"get":    starlark.NewBuiltin("http.get", m.builtin(http.MethodGet)),
			"post":   starlark.NewBuiltin("http.post", m.builtin(http.MethodPost)),
			"put":    starlark.NewBuiltin("http.put", m.builtin(http.MethodPut)),
			"delete": starlark.NewBuiltin("http.delete", m.builtin(http.MethodDelete)),
		}}, nil
	}}
}

// httpModule is the module's state for one run.
type httpModule struct {
	run    *runtime.Run
	opts   Options
	client *http.Client // one per run, created on first use, so connections are reused
}

func (m *httpModule) httpClient() *http.Client {
	if m.client != nil {
		return m.client
	}
	var rt http.RoundTripper = &http.Transport{
		Proxy:                 m.run.Proxy(""),
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if m.opts.WrapTransport != nil {
		rt = m.opts.WrapTransport(rt)
	}
	// No client-wide timeout: each request carries its own (timeout=).
	m.client = &http.Client{Transport: rt}
	return m.client
}
