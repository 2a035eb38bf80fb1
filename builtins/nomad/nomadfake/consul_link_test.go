package nomadfake

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/builtins/consul/consulfake"
	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// deployAndFind runs a job with a service and finds it through Consul, as the guide's
// last steps do.
const deployAndFind = `
job = nomad.job("web", datacenters = ["dc1"], groups = [nomad.group("g",
    network = nomad.network(ports = {"http": None}),
    tasks = [nomad.task("t", driver = "docker", config = {"image": "web"},
        services = [nomad.service("web", port = "http", tags = ["v1"], checks = [
            nomad.check(type = "tcp", interval = "2s", timeout = "2s")])],
    )],
)])
nomad.run(job, timeout = "30s")
consul.wait("web", timeout = "30s")
srv = consul.srv("web")
print("found:", [(s.host, s.port) for s in srv])
`

// TestUseConsul: with UseConsul, a job's services reach the fake Consul, so an apply of
// a script that deploys and then looks its service up finds it.
func TestUseConsul(t *testing.T) {
	nf, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nf.Close)
	cf := consulfake.New(consulfake.Options{})
	nf.UseConsul(cf)
	script := runtimetest.Script(t, map[string]string{"main.star": deployAndFind})
	r := runtimetest.Exec(t, script, runtimetest.ExecOptions{Mode: runtime.Apply, SkipPreflight: true, Timeout: time.Minute,
		Modules: []runtime.Module{
			nomad.Module(nomad.Options{PollInterval: 10 * time.Millisecond, WrapTransport: func(http.RoundTripper) http.RoundTripper { return fakenet.Transport(nf) }, AgentFiles: nf}),
			consul.Module(consul.Options{WrapTransport: func(http.RoundTripper) http.RoundTripper { return fakenet.Transport(cf) }, Resolve: cf.Resolve}),
		}}).MustOK(t)
	if !strings.Contains(r.Out, `found: [("127.0.0.1", 20000)]`) {
		t.Errorf("the script found %q; want the allocation at 127.0.0.1:20000", r.Out)
	}
	if ids := cf.Services(); len(ids) != 1 || !strings.HasPrefix(ids[0], "_nomad-task-") {
		t.Errorf("consul services %q; want the one Nomad registered", ids)
	}
}
