package consul

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

const defaultHTTPAddr = "127.0.0.1:8500"

// newClient builds a Consul client from the run's environment alone (env is Run.Env):
// CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN and CONSUL_NAMESPACE, plus the TLS variables
// CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CAPATH, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY
// and CONSUL_HTTP_SSL_VERIFY. It returns the client and the address, for messages.
func newClient(env func(string) string, proxy func(*http.Request) (*url.URL, error), wrap func(http.RoundTripper) http.RoundTripper, inFlight int) (*api.Client, string, error) {
	addr := env("CONSUL_HTTP_ADDR")
	if addr == "" {
		addr = defaultHTTPAddr
	}
	scheme := "http"
	if strings.HasPrefix(addr, "https://") || strings.EqualFold(env("CONSUL_HTTP_SSL"), "true") {
		scheme = "https"
	}
	host := addr
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		host = rest
	}
	tlsConf, err := api.SetupTLSConfig(&api.TLSConfig{
		Address:            host,
		CAFile:             env("CONSUL_CACERT"),
		CAPath:             env("CONSUL_CAPATH"),
		CertFile:           env("CONSUL_CLIENT_CERT"),
		KeyFile:            env("CONSUL_CLIENT_KEY"),
		InsecureSkipVerify: strings.EqualFold(env("CONSUL_HTTP_SSL_VERIFY"), "false"),
	})
	if err != nil {
		return nil, addr, fmt.Errorf("consul TLS settings: %w", err)
	}
	var rt http.RoundTripper = &http.Transport{
		Proxy:               proxy,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 10 * time.Second,
		// As many kept-alive connections as requests in flight (a plan's reads ahead),
		// so that none is closed and dialled again between two reads.
		MaxIdleConnsPerHost: max(4, inFlight),
		IdleConnTimeout:     90 * time.Second,
	}
	if wrap != nil {
		rt = wrap(rt)
	}
	token, namespace := env("CONSUL_HTTP_TOKEN"), env("CONSUL_NAMESPACE")
	cfg := &api.Config{
		Address:   addr,
		Scheme:    scheme,
		Token:     token,
		Namespace: namespace,
		// Our own client, so api.NewClient does not build one from the process's TLS
		// environment; pinned, because NewClient fills a blank token or namespace from the
		// process environment, which the run's own environment must override.
		HttpClient: &http.Client{
			Transport: &pinned{base: rt, token: token, namespace: namespace},
			Timeout:   30 * time.Second,
		},
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, addr, fmt.Errorf("consul client for %s: %w", addr, err)
	}
	return client, addr, nil
}

// pinned makes the run's token and namespace the only ones sent, whatever api.NewClient
// picked up from the process environment.
type pinned struct {
	base             http.RoundTripper
	token, namespace string
}

func (p *pinned) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if p.token == "" {
		req.Header.Del("X-Consul-Token")
	} else {
		req.Header.Set("X-Consul-Token", p.token)
	}
	q := req.URL.Query()
	if p.namespace == "" {
		q.Del("ns")
	} else {
		q.Set("ns", p.namespace)
	}
	q.Del("partition") // admin partitions are not something nvrun's environment sets
	req.URL.RawQuery = q.Encode()
	return p.base.RoundTrip(req)
}
