// Package faultproxy is a reverse proxy for tests that stands in front of one real
// server (Vault, Consul, the Nomad double, an app) and injects faults into the requests
// that match a rule: an error status, an answer cut off after N bytes, latency, a
// dropped connection. Everything else passes through untouched, so a test points a
// client at the proxy and decides, request by request, what goes wrong.
package faultproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is what happens to a matching request. Exactly one of Status, Truncate, Drop
// or Hold is usually set; Latency combines with any of them.
type Fault struct {
	// Method and Path select requests: Method "" matches any; Path matches a request
	// path equal to it, or starting with it when it ends in "*".
	Method string
	Path   string

	// Forward sends the request to the server before Status or Drop take effect, so
	// the server acts on it and only its answer is lost: a cut-off answer to a write.
	Forward bool
	// Status answers with this status and Body instead of the server's answer.
	Status int
	Body   string
	// Header is added to a Status answer (e.g. Retry-After).
	Header http.Header
	// Truncate forwards the request, then sends the server's status and headers
	// (its Content-Length too) but only the first Truncate bytes of its body, and
	// closes the connection. 0 means no truncation.
	Truncate int
	// Drop closes the connection without an answer.
	Drop bool
	// Reset aborts the connection (a TCP RST) without an answer: the client reads
	// "connection reset by peer", as from a server that went away.
	Reset bool
	// Latency delays the request before anything else happens.
	Latency time.Duration
	// Hold keeps the request until its client gives up (a server that never answers).
	Hold bool

	// Times is how many matching requests the fault hits; 0 means all of them.
	Times int
	// After lets this many matching requests pass before the fault hits (a server
	// that stops answering after K requests).
	After int
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && f.Method != r.Method {
		return false
	}
	if p, ok := strings.CutSuffix(f.Path, "*"); ok {
		return strings.HasPrefix(r.URL.Path, p)
	}
	return f.Path == "" || r.URL.Path == f.Path
}

// Proxy forwards to one server and applies its faults.
type Proxy struct {
	URL    string // the proxy's base URL, http://127.0.0.1:port
	target *url.URL
	srv    *httptest.Server
	client *http.Client

	closed    chan struct{} // ends held and delayed requests at Close
	closeOnce sync.Once

	mu     sync.Mutex
	faults []*rule
	log    []string // "METHOD /path -> what happened"
	// inFlight counts requests being served; maxInFlight is its high-water mark.
	inFlight, maxInFlight int
}

type rule struct {
	Fault
	seen int // matching requests, hit or let pass by After
	hits int
}

// New starts a proxy in front of target (a URL, or host:port for http). Close stops it.
func New(target string) (*Proxy, error) {
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	p := &Proxy{
		target: u,
		closed: make(chan struct{}),
		// No keep-alive reuse across faults matters here; a plain transport, no
		// redirects followed (the client sees them as the server sent them).
		client: &http.Client{
			Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy, ending held requests.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// Add installs a fault; the newest matching fault wins.
func (p *Proxy) Add(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &rule{Fault: f})
}

// Clear removes every fault: the proxy passes everything through again.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Hits is how many requests the faults hit since the last Clear.
func (p *Proxy) Hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.faults {
		n += r.hits
	}
	return n
}

// Log returns the requests seen since the last call, with what the proxy did.
func (p *Proxy) Log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.log
	p.log = nil
	return l
}

// pick returns the fault for r, counting the hit, or nil to pass it through.
func (p *Proxy) pick(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.faults) - 1; i >= 0; i-- {
		f := p.faults[i]
		if !f.matches(r) || (f.Times > 0 && f.hits >= f.Times) {
			continue
		}
		if f.seen++; f.seen <= f.After {
			continue
		}
		f.hits++
		c := f.Fault
		return &c
	}
	return nil
}

func (p *Proxy) note(r *http.Request, what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, r.Method+" "+r.URL.Path+" -> "+what)
}

// MaxInFlight is the most requests the proxy has served at once since the last call,
// which resets it: how many a client had in flight.
func (p *Proxy) MaxInFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.maxInFlight
	p.maxInFlight = p.inFlight
	return n
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.inFlight++
	p.maxInFlight = max(p.maxInFlight, p.inFlight)
	p.mu.Unlock()
	// A request stops counting when its answer starts: a client that waits for each
	// answer before sending the next must never be seen with two in flight.
	var once sync.Once
	done := func() {
		once.Do(func() {
			p.mu.Lock()
			p.inFlight--
			p.mu.Unlock()
		})
	}
	defer done()
	w = &answering{ResponseWriter: w, started: done}
	// Read the request body first: only then does net/http notice a client that hangs
	// up (and cancel r.Context()), which a delayed or held request depends on.
	in, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(in))
	f := p.pick(r)
	if f == nil {
		p.passThrough(w, r)
		return
	}
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			p.note(r, "client gave up during latency")
			return
		case <-p.closed:
			return
		}
	}
	switch {
	case f.Hold:
		p.note(r, "held")
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
		return
	case f.Truncate > 0:
		resp, body, err := p.forward(r, true)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		copyHeader(w.Header(), resp.Header)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(resp.StatusCode)
		n := min(f.Truncate, len(body))
		_, _ = w.Write(body[:n])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		p.note(r, fmt.Sprintf("%d, body cut after %d of %d bytes", resp.StatusCode, n, len(body)))
		// Abort: the server closes the connection, the client reads an unexpected EOF.
		panic(http.ErrAbortHandler)
	}
	if f.Forward {
		resp, _, err := p.forward(r, true)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		p.note(r, fmt.Sprintf("forwarded (server answered %d)", resp.StatusCode))
	}
	switch {
	case f.Drop:
		p.note(r, "dropped")
		panic(http.ErrAbortHandler)
	case f.Reset:
		p.note(r, "reset")
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends a RST, not a FIN
		}
		_ = conn.Close()
	case f.Status != 0:
		p.note(r, fmt.Sprintf("answered %d", f.Status))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for k, vs := range f.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.Body)
	default:
		p.passThrough(w, r)
	}
}

func (p *Proxy) passThrough(w http.ResponseWriter, r *http.Request) {
	resp, body, err := p.forward(r, false)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client gave up; so does the proxy, as a real connection would
		}
		p.fail(w, r, err)
		return
	}
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// forward sends r to the target and reads the whole answer. detached lets the request
// finish even if the client gives up (the server acts, its answer is lost).
func (p *Proxy) forward(r *http.Request, detached bool) (*http.Response, []byte, error) {
	in, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	u := *p.target
	u.Path = strings.TrimSuffix(p.target.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	ctx := r.Context()
	if detached {
		ctx = context.WithoutCancel(ctx)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(in))
	if err != nil {
		return nil, nil, err
	}
	copyHeader(out.Header, r.Header)
	out.Header.Del("Connection")
	resp, err := p.client.Do(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// fail answers 502 when the target itself could not be reached, as a real proxy does.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.note(r, "502: "+err.Error())
	http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Transfer-Encoding") {
			continue
		}
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// answering calls started before the first byte of an answer is written.
type answering struct {
	http.ResponseWriter
	started func()
}

func (a *answering) WriteHeader(code int) {
	a.started()
	a.ResponseWriter.WriteHeader(code)
}

func (a *answering) Write(b []byte) (int, error) {
	a.started()
	return a.ResponseWriter.Write(b)
}

func (a *answering) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *answering) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	a.started()
	return http.NewResponseController(a.ResponseWriter).Hijack()
}
