package consul

import (
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// The one real Consul agent this package's tests share, started by the first test that
// needs it (consulAgent): the pure tests (argument errors, offline plans, DNS parsing)
// run without one.
var (
	agentOnce  sync.Once
	agent      *testserver.Consul
	agentErr   error
	agentDir   string
	agentStart time.Duration
)

// consulAgent returns the shared agent, starting it on first use. A test that needs it
// fails (never skips) when it cannot start: these tests exist to run against a real agent.
func consulAgent(t testing.TB) *testserver.Consul {
	t.Helper()
	agentOnce.Do(func() {
		if agentDir, agentErr = os.MkdirTemp("", "nvrun-consul-test-"); agentErr != nil {
			return
		}
		start := time.Now()
		agent, agentErr = testserver.StartConsul(agentDir)
		agentStart = time.Since(start)
	})
	if agentErr != nil {
		t.Fatalf("builtins/consul tests need a real Consul agent: %v", agentErr)
	}
	return agent
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agent != nil {
		_ = agent.Stop() // by PID (process group), see testserver.Process.Stop
	}
	if agentDir != "" {
		os.RemoveAll(agentDir)
	}
	os.Exit(code)
}

func TestAgentStartTime(t *testing.T) {
	a := consulAgent(t)
	t.Logf("consul agent elected itself leader %s after start (http %s, dns %s)", agentStart.Round(time.Millisecond), a.HTTPAddr, a.DNSAddr)
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
	parallelism   int           // runtime.Options.Parallelism; 0: the default
}

// exec runs src as a script in mode against the shared agent (started on first use),
// or, offline, against an address where nothing listens: an offline run sends nothing,
// and a request it sent by mistake would still be counted by o.rec.
func exec(t *testing.T, src string, mode runtime.Mode, o execOpts) runtimetest.Result {
	t.Helper()
	opts := Options{}
	if o.rec != nil {
		opts.WrapTransport = func(base http.RoundTripper) http.RoundTripper { o.rec.base = base; return o.rec }
	}
	env := o.env
	switch {
	case env == nil && o.offline:
		env = []string{"CONSUL_HTTP_ADDR=127.0.0.1:1"}
	case env == nil:
		env = []string{"CONSUL_HTTP_ADDR=" + consulAgent(t).HTTPAddr}
	}
	if o.timeout == 0 {
		o.timeout = time.Minute
	}
	return runtimetest.Exec(t, runtimetest.Script(t, map[string]string{"main.star": src}), runtimetest.ExecOptions{
		Mode:          mode,
		Offline:       o.offline,
		SkipPreflight: o.skipPreflight,
		Modules:       []runtime.Module{Module(opts)},
		Environ:       env,
		Timeout:       o.timeout,
		Parallelism:   o.parallelism,
	})
}

// apiClient is a plain client for the tests' own checks of live state.
func apiClient(t *testing.T) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: consulAgent(t).HTTPAddr})
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

// closeAndHoldPort closes l and keeps its port bound but not listening, so connections
// to it are refused for the rest of the test: another process on a busy machine cannot
// take the freed port and turn a check that should be critical back to passing.
func closeAndHoldPort(t *testing.T, l net.Listener, port int) {
	t.Helper()
	l.Close()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("hold port %d: %v", port, err)
	}
}
