package runtime

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// Proxy is the HTTP proxy function for builtins' clients, from the run's environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, upper or lower case) rather than the process's,
// like every other setting a builtin reads. override, if not empty, proxies every
// request (VAULT_PROXY_ADDR, say). Loopback addresses are never proxied.
func (r *Run) Proxy(override string) func(*http.Request) (*url.URL, error) {
	env := func(k string) string {
		if s := r.Env(k); s != "" {
			return s
		}
		return r.Env(strings.ToLower(k))
	}
	pc := &httpproxy.Config{HTTPProxy: env("HTTP_PROXY"), HTTPSProxy: env("HTTPS_PROXY"), NoProxy: env("NO_PROXY")}
	if override != "" {
		pc = &httpproxy.Config{HTTPProxy: override, HTTPSProxy: override}
	}
	fn := pc.ProxyFunc()
	return func(req *http.Request) (*url.URL, error) { return fn(req.URL) }
}
