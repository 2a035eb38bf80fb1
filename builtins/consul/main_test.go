package consul

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// agent is the one real Consul agent this package's tests share.
var (
	agent      *testserver.Consul
	agentStart time.Duration
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nvrun-consul-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	agent, err = testserver.StartConsul(dir)
	agentStart = time.Since(start)
	if err != nil {
		// Never a skip: these tests exist to run against a real agent.
		fmt.Fprintf(os.Stderr, "builtins/consul tests need a real Consul agent: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = agent.Stop() // by PID (process group), see testserver.Process.Stop
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestAgentStartTime(t *testing.T) {
	t.Logf("consul agent elected itself leader %s after start (http %s, dns %s)", agentStart.Round(time.Millisecond), agent.HTTPAddr, agent.DNSAddr)
}

// recorder counts the requests nvrun's Consul client really sends.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string // "PUT /v1/agent/service/register"
	toks []string // the X-Consul-Token header of each request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
	r.toks = append(r.toks, req.Header.Get("X-Consul-Token"))
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// writes are the requests that were not reads.
func (r *recorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.reqs {
		if !strings.HasPrefix(q, "GET ") {
			out = append(out, q)
		}
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

type execOpts struct {
	offline bool
	// skipPreflight lets a test script call len() on results, which an offline
	// preflight cannot answer (they are Unknowns there).
	skipPreflight bool
	env           []string // replaces the default CONSUL_HTTP_ADDR environment
	rec           *recorder
	timeout       time.Duration // default a minute
}

// exec runs src as a script in mode against the shared agent.
func exec(t *testing.T, src string, mode runtime.Mode, o execOpts) runtimetest.Result {
	t.Helper()
	cfg := config{}
	if o.rec != nil {
		cfg.wrapTransport = func(base http.RoundTripper) http.RoundTripper { o.rec.base = base; return o.rec }
	}
	env := o.env
	if env == nil {
		env = []string{"CONSUL_HTTP_ADDR=" + agent.HTTPAddr}
	}
	if o.timeout == 0 {
		o.timeout = time.Minute
	}
	return runtimetest.Exec(t, runtimetest.Script(t, map[string]string{"main.star": src}), runtimetest.ExecOptions{
		Mode:          mode,
		Offline:       o.offline,
		SkipPreflight: o.skipPreflight,
		Modules:       []runtime.Module{module(cfg)},
		Environ:       env,
		Timeout:       o.timeout,
	})
}

// apiClient is a plain client for the tests' own checks of live state.
func apiClient(t *testing.T) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: agent.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tcpListener accepts (and drops) connections until closed: the target of a TCP check.
func tcpListener(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// waitStatus polls the health API until service's aggregate status is want.
func waitStatus(t *testing.T, service, want string) {
	t.Helper()
	c := apiClient(t)
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		entries, _, err := c.Health().Service(service, "", false, nil)
		if err == nil && len(entries) > 0 {
			last = entries[0].Checks.AggregatedStatus()
			if last == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("service %s did not become %s within 30s (last %q)", service, want, last)
}

func summaryOf(r runtimetest.Result) runtime.Summary { return r.Res.Summary() }
