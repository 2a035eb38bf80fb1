package consul

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

// every builtin, as a script might use them before Consul has anything in it.
const everything = `
step("everything")
s = consul.service("web")
print("service", s)
r = consul.srv("web")
print("srv", r[0].port)
print("kv", consul.kv_get("k"))
consul.kv_put("k", "v")
consul.register("web", port = 80)
consul.deregister("old")
consul.wait("web")
`

// An offline plan reads nothing: not one request reaches the agent.
func TestOfflinePlanReadsNothing(t *testing.T) {
	rec := &recorder{}
	r := exec(t, everything, runtime.Plan, execOpts{offline: true, rec: rec}).MustOK(t)
	if rec.count() != 0 {
		t.Errorf("offline plan sent %v", rec.reqs)
	}
	for _, want := range []string{
		"service (known after apply: consul.service, main.star:3)",
		"srv (known after apply: consul.srv[0].port, main.star:5)",
		"kv (known after apply: consul.kv_get, main.star:7)",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Out)
		}
	}
	if s := summaryOf(r); s.Create != 2 || s.Delete != 1 || s.Read != 2 {
		t.Errorf("summary %+v\n%s", s, r.Plan)
	}
}

// With the agent down, a live plan warns once and carries on as offline; an apply fails.
func TestUnreachableAgent(t *testing.T) {
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{fmt.Sprintf("CONSUL_HTTP_ADDR=http://127.0.0.1:%d", port)}
	plan := exec(t, everything, runtime.Plan, execOpts{env: env}).MustOK(t)
	if len(plan.Res.Warnings) != 1 || !strings.Contains(plan.Res.Warnings[0], "consul is unreachable") ||
		!strings.Contains(plan.Res.Warnings[0], "connection refused") {
		t.Errorf("want one warning naming the refused connection, got %q", plan.Res.Warnings)
	}
	if !strings.Contains(plan.Out, "service (known after apply") {
		t.Errorf("plan output:\n%s", plan.Out)
	}

	apply := exec(t, `consul.kv_put("k", "v")`+"\n", runtime.Apply, execOpts{env: env})
	if apply.Err == nil || !strings.Contains(apply.ErrMsg, fmt.Sprintf("consul at http://127.0.0.1:%d", port)) ||
		!strings.Contains(apply.ErrMsg, "connection refused") {
		t.Errorf("apply against a dead agent: %q", apply.ErrMsg)
	}
}

// The run's environment decides the token, whatever the process environment says: the
// token is sent, and redacted from errors that echo it.
func TestTokenFromRunEnvironment(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "ambient-process-token")
	rec := &recorder{}
	exec(t, `print(consul.kv_get("nvrun-test/none"))`+"\n", runtime.Plan, execOpts{rec: rec}).MustOK(t)
	if len(rec.toks) == 0 || rec.toks[0] != "" {
		t.Errorf("with no token in the run's environment, sent %q", rec.toks)
	}

	const token = "run-token-5d1c4e0a"
	rec = &recorder{}
	r := exec(t, `print(consul.kv_get("nvrun-test/none"))`+"\n", runtime.Plan, execOpts{rec: rec,
		env: []string{"CONSUL_HTTP_ADDR=" + consulAgent(t).HTTPAddr, "CONSUL_HTTP_TOKEN=" + token}})
	// The dev agent has ACLs off, so any token is accepted.
	r.MustOK(t)
	if len(rec.toks) == 0 || rec.toks[0] != token {
		t.Errorf("sent tokens %q, want %q", rec.toks, token)
	}
}

// An agent that answers with a TLS failure is not unreachable: a certificate nvrun does
// not trust (self-signed here), or a TLS alert (the agent wants a client certificate,
// verify_incoming). A live plan fails naming the agent and the certificate, rather than
// warning and reading nothing, and consul.wait fails at once rather than waiting for it.
func TestBadCertificateIsAnError(t *testing.T) {
	var hits atomic.Int32
	handler := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	start := func(tc *tls.Config) *httptest.Server {
		s := httptest.NewUnstartedServer(handler)
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
		s.TLS = tc
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	selfSigned := start(nil)
	wantsClientCert := start(&tls.Config{ClientAuth: tls.RequireAnyClientCert})
	agents := []struct {
		name string
		s    *httptest.Server
		env  []string
	}{
		{"self-signed", selfSigned, nil},
		{"client certificate required", wantsClientCert, []string{"CONSUL_HTTP_SSL_VERIFY=false"}},
	}
	cases := []struct {
		src  string
		mode runtime.Mode
	}{
		{"print(consul.kv_get(\"k\"))\n", runtime.Plan},
		{"print(consul.service(\"web\"))\n", runtime.Plan},
		{"consul.wait(\"web\", timeout = \"1h\")\n", runtime.Apply},
	}
	for _, a := range agents {
		for _, c := range cases {
			r := exec(t, c.src, c.mode, execOpts{env: append([]string{"CONSUL_HTTP_ADDR=" + a.s.URL}, a.env...), timeout: 10 * time.Minute})
			if r.Err == nil {
				t.Fatalf("%s, %s: succeeded; warnings %q", a.name, c.src, r.Res.Warnings)
			}
			for _, want := range []string{"main.star:1", "consul at " + a.s.URL, "certificate"} {
				if !strings.Contains(r.ErrMsg, want) {
					t.Errorf("%s, %s: error lacks %q:\n%s", a.name, c.src, want, r.ErrMsg)
				}
			}
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the handler was reached %d times through a failed handshake", hits.Load())
	}
}

// Optional arguments may be given as None, as before they had unpackers; a required one
// may not. Offline: no agent is needed to check arguments.
func TestNoneArguments(t *testing.T) {
	cases := []struct{ src, wantErr string }{
		{`consul.service("web", tag = None)`, ""},
		{`consul.srv("web", tag = None, dns = None)`, ""},
		{`consul.service(None)`, `consul.service: for parameter name: want a string, not NoneType`},
		{`consul.kv_get(1)`, `consul.kv_get: for parameter key: want a string, not int`},
	}
	for _, c := range cases {
		r := exec(t, c.src+"\n", runtime.Plan, execOpts{offline: true})
		switch {
		case c.wantErr == "" && r.Err != nil:
			t.Errorf("%s: %s", c.src, r.ErrMsg)
		case c.wantErr != "" && (r.Err == nil || !strings.Contains(r.ErrMsg, c.wantErr)):
			t.Errorf("%s: error %q, want it to contain %q", c.src, r.ErrMsg, c.wantErr)
		}
	}
}
