package consulfake

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/internal/fakecheck"
	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// consulScript uses every consul builtin a plan reads or writes.
const consulScript = `
consul.kv_put("app/config", var("cfg", "v2"))
consul.register("web", port = 8080, tags = ["v2"], check = {"type": "ttl", "ttl": "30s"})
consul.register("api", address = "127.0.0.1", port = 9090)
db = consul.srv("db")
print("db:", db[0].target, db[0].host, db[0].port)
print("other:", consul.kv_get("app/other"), consul.kv_get("app/none"))
print("web:", [(s.id, s.port, s.tags) for s in consul.service("web", passing = False)])
`

// The starting state, described for the fake (as a test file would)...
const consulState = `
services = {
    "web": {"port": 80, "tags": ["v1"], "check": {"type": "ttl", "ttl": "30s"}, "status": "passing"},
    "db": [{"address": "127.0.0.1", "port": 5432}],
}
kv = {"app/config": "v1", "app/other": "x"}
`

// ...and as the requests that make it on the real agent.
var consulSeed = []struct{ method, path, body string }{
	{"PUT", "/v1/agent/service/register?replace-existing-checks=true", `{"ID":"web","Name":"web","Port":80,"Tags":["v1"],"Check":{"CheckID":"service:web","Notes":"nvrun: ttl 30s","TTL":"30s","Status":"passing"}}`},
	{"PUT", "/v1/agent/service/register", `{"ID":"db","Name":"db","Address":"127.0.0.1","Port":5432}`},
	{"PUT", "/v1/kv/app/config", "v1"},
	{"PUT", "/v1/kv/app/other", "x"},
}

func stateKwargs(t *testing.T, src string) []starlark.Tuple {
	t.Helper()
	g, err := starlark.ExecFile(&starlark.Thread{}, "state.star", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kw []starlark.Tuple
	for _, k := range g.Keys() {
		kw = append(kw, starlark.Tuple{starlark.String(k), g[k]})
	}
	return kw
}

func runConsul(t *testing.T, mode runtime.Mode, script string, env []string, opts consul.Options) runtimetest.Result {
	t.Helper()
	return runtimetest.Exec(t, script, runtimetest.ExecOptions{
		Mode: mode, SkipPreflight: true, Environ: env,
		Modules: []runtime.Module{consul.Module(opts)}, Timeout: time.Minute,
	})
}

func fakeOptions(f *Fake) consul.Options {
	return consul.Options{
		WrapTransport: func(http.RoundTripper) http.RoundTripper { return fakenet.Transport(f) },
		Resolve:       f.Resolve,
	}
}

// TestPlanEqualsRealConsul: the same script planned against the real Consul and against
// the fake, from the same starting state, prints the same plan and output.
func TestPlanEqualsRealConsul(t *testing.T) {
	real := realConsul(t)
	for _, s := range consulSeed {
		req, _ := http.NewRequest(s.method, real.HTTPAddr+s.path, strings.NewReader(s.body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("seed %s %s: %s", s.method, s.path, res.Status)
		}
	}
	f, err := FromStarlark(stateKwargs(t, consulState))
	if err != nil {
		t.Fatal(err)
	}
	f.node = testserver.ConsulNodeName // the real agent's node name, which SRV targets carry
	env := []string{"CONSUL_HTTP_ADDR=" + real.HTTPAddr}
	script := runtimetest.Script(t, map[string]string{"main.star": consulScript})

	// The real agent's catalog and DNS take the registrations in the background.
	var realRun runtimetest.Result
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		realRun = runConsul(t, runtime.Plan, script, env, consul.Options{})
		if realRun.Err == nil || time.Now().After(deadline) {
			break
		}
	}
	realRun.MustOK(t)
	fakeRun := runConsul(t, runtime.Plan, script, env, fakeOptions(f)).MustOK(t)
	if realRun.Plan+realRun.Out != fakeRun.Plan+fakeRun.Out {
		t.Errorf("the plans differ\n%s", fakecheck.LineDiff(fakeRun.Out+fakeRun.Plan, realRun.Out+realRun.Plan))
	}
	for _, want := range []string{`consul kv "app/config"`, `"v1" -> "v2"`, `consul service "web"`, `consul service "api"`, "db: 7f000001.addr.dc1.consul 127.0.0.1 5432", "other: x None"} {
		if !strings.Contains(fakeRun.Plan+fakeRun.Out, want) {
			t.Errorf("the plan lacks %q:\n%s%s", want, fakeRun.Out, fakeRun.Plan)
		}
	}
	t.Logf("plan (both):\n%s%s", fakeRun.Out, fakeRun.Plan)
}
