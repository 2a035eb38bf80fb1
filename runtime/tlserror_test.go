package runtime_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// The errors a client sees from a server that answers with a bad certificate (or not
// with TLS at all) are TLS errors; nothing listening is not.
func TestIsTLSError(t *testing.T) {
	selfSigned := httptest.NewTLSServer(http.NotFoundHandler())
	defer selfSigned.Close()
	needsClientCert := httptest.NewUnstartedServer(http.NotFoundHandler())
	needsClientCert.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	needsClientCert.StartTLS()
	defer needsClientCert.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	cases := []struct {
		name   string
		client *http.Client
		url    string
		want   bool
	}{
		{"self-signed certificate", &http.Client{}, selfSigned.URL, true},
		{"wrong host name", selfSigned.Client(), strings.Replace(selfSigned.URL, "127.0.0.1", "localhost", 1), true},
		{"client certificate required", trusting, needsClientCert.URL, true},
		{"plain HTTP server", &http.Client{}, strings.Replace(plain.URL, "http:", "https:", 1), true},
		{"nothing listening", &http.Client{}, "https://" + closed, false},
		{"trusted certificate", selfSigned.Client(), selfSigned.URL, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", c.url, nil)
			resp, err := c.client.Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			if got := runtime.IsTLSError(err); got != c.want {
				t.Fatalf("IsTLSError(%v) = %v, want %v", err, got, c.want)
			}
		})
	}
}
