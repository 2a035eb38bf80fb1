package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// countingProxy stands between nvrun and one server, so a test counts the requests nvrun
// really sends (and which of them write) without touching the modules.
type countingProxy struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []string // "METHOD /path"
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.log = append(p.log, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// take returns the requests seen since the last take.
func (p *countingProxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.log
	p.log = nil
	return l
}

// readOnlyPosts are requests that use a write method but change nothing: Vault's token
// lookup and capability checks (tokens travel in the body, not the URL), and Nomad's
// job plan.
var readOnlyPosts = []string{"/v1/auth/token/lookup", "/v1/sys/capabilities", "/plan"}

// writes filters a request log down to the requests that change something.
func writes(log []string) []string {
	var out []string
	for _, l := range log {
		method, path, _ := strings.Cut(l, " ")
		if method == http.MethodGet {
			continue
		}
		readOnly := false
		for _, ro := range readOnlyPosts {
			if strings.HasPrefix(path, ro) || strings.HasSuffix(path, ro) {
				readOnly = true
			}
		}
		if !readOnly {
			out = append(out, l)
		}
	}
	return out
}
