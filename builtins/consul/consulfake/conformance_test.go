package consulfake

import (
	"os"
	"testing"

	"github.com/nvrun/nvrun/internal/fakecheck"
	"github.com/nvrun/nvrun/internal/testserver"
)

// realConsul starts the real Consul 1.16.0 for this test; it fails (never skips) when
// it cannot.
func realConsul(t *testing.T) *testserver.Consul {
	t.Helper()
	dir, err := os.MkdirTemp("", "consulfake-conformance-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := testserver.StartConsul(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("the conformance test needs the real Consul: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Stop()
		os.RemoveAll(dir)
	})
	return c
}

// The service fields consul.register and consul.service read.
var (
	agentServiceFields = []string{"*.ID", "*.Service", "*.Port", "*.Address", "*.Tags", "*.Meta"}
	agentCheckFields   = []string{"*.CheckID", "*.Name", "*.ServiceID", "*.ServiceName", "*.Type", "*.Notes", "*.Interval"}
	healthFields       = []string{"[].Node.Node", "[].Node.Address", "[].Service.ID", "[].Service.Service", "[].Service.Port", "[].Service.Address", "[].Service.Tags", "[].Service.Meta", "[].Checks[].CheckID", "[].Checks[].Status"}
	kvFields           = []string{"[].Key", "[].Value", "[].Flags"}
)

// conformance is the one table: every endpoint the fake serves, and the errors the
// consul builtin relies on, in the order a script meets them.
var conformance = []fakecheck.Case{
	{Name: "agent self", Steps: []fakecheck.Step{
		{Method: "GET", Path: "/v1/agent/self", Pick: []string{"Config.Datacenter", "Config.NodeName", "Config.Version", "DebugConfig.DNSDomain", "DebugConfig.ClientAddrs"}},
		{Method: "GET", Path: "/v1/status/leader"}, // the address is the real server's port
	}},
	{Name: "kv put, cas, get, delete", Steps: []fakecheck.Step{
		{Method: "GET", Path: "/v1/kv/conf/a", Text: true},
		{Method: "PUT", Path: "/v1/kv/conf/a?cas=0", Body: "one", Pick: []string{""}},
		{Method: "PUT", Path: "/v1/kv/conf/a?cas=0", Body: "again", Pick: []string{""}},
		{Method: "GET", Path: "/v1/kv/conf/a", Pick: kvFields, Save: map[string]string{"idx": "[0].ModifyIndex"}},
		{Method: "PUT", Path: "/v1/kv/conf/a?cas={idx}", Body: "two", Pick: []string{""}},
		{Method: "PUT", Path: "/v1/kv/conf/a?cas={idx}", Body: "stale", Pick: []string{""}},
		{Method: "GET", Path: "/v1/kv/conf/a", Pick: kvFields},
		{Method: "PUT", Path: "/v1/kv/conf/b?flags=42", Body: "", Pick: []string{""}},
		{Method: "GET", Path: "/v1/kv/conf/b", Pick: kvFields},
		{Method: "GET", Path: "/v1/kv/conf/?recurse", Pick: kvFields},
		{Method: "GET", Path: "/v1/kv/conf/?keys", Pick: []string{""}},
		{Method: "DELETE", Path: "/v1/kv/conf/a", Pick: []string{""}},
		{Method: "GET", Path: "/v1/kv/conf/a", Text: true},
		{Method: "DELETE", Path: "/v1/kv/conf/never", Pick: []string{""}},
		{Method: "PUT", Path: "/v1/kv/", Body: "x", Text: true},
		{Method: "PUT", Path: "/v1/kv/conf/with%20space/%C3%A9", Body: "escaped", Pick: []string{""}},
		{Method: "GET", Path: "/v1/kv/conf/with%20space/%C3%A9", Pick: kvFields},
		{Method: "DELETE", Path: "/v1/kv/conf/?recurse", Pick: []string{""}},
		{Method: "GET", Path: "/v1/kv/conf/?recurse", Text: true},
	}},
	{Name: "register and read a service", Steps: []fakecheck.Step{
		{Method: "PUT", Path: "/v1/agent/service/register?replace-existing-checks=true",
			Body: `{"ID":"conf-web-1","Name":"conf-web","Address":"127.0.0.1","Port":8080,"Tags":["v1","urlprefix-/"],"Meta":{"team":"a"},` +
				`"Check":{"CheckID":"service:conf-web-1","Notes":"nvrun: ttl 30s","TTL":"30s"}}`, Text: true},
		{Method: "GET", Path: "/v1/agent/services", Pick: agentServiceFields},
		{Method: "GET", Path: "/v1/agent/checks", Pick: append(append([]string{}, agentCheckFields...), "*.Status")},
		{Method: "GET", Path: "/v1/health/service/conf-web", Pick: healthFields, Settle: true},
		{Method: "GET", Path: "/v1/health/service/conf-web?passing=1", Pick: healthFields, Settle: true},
		{Method: "GET", Path: "/v1/health/service/conf-nothing", Pick: []string{""}},
		// a second instance without checks: passing
		{Method: "PUT", Path: "/v1/agent/service/register?replace-existing-checks=true",
			Body: `{"ID":"conf-web-2","Name":"conf-web","Port":8081,"Tags":["v2"]}`, Text: true},
		{Method: "PUT", Path: "/v1/agent/service/register", Body: `{"Name":"conf-bare"}`, Text: true},
		{Method: "GET", Path: "/v1/agent/services", Pick: agentServiceFields},
		{Method: "GET", Path: "/v1/health/service/conf-bare", Pick: healthFields, Settle: true},
		{Method: "GET", Path: "/v1/catalog/service/conf-bare", Pick: []string{"[].ServiceID", "[].ServicePort", "[].ServiceAddress", "[].ServiceTags", "[].ServiceMeta", "[].Node"}, Settle: true},
		{Method: "PUT", Path: "/v1/agent/service/deregister/conf-bare", Text: true},
		// a warning check: in the health answer, but not a passing one
		{Method: "PUT", Path: "/v1/agent/service/register", Body: `{"ID":"conf-warn","Name":"conf-warn","Port":81,"Check":{"TTL":"30s","Status":"warning"}}`, Text: true},
		{Method: "GET", Path: "/v1/agent/checks", Pick: append(append([]string{}, agentCheckFields...), "*.Status")},
		{Method: "GET", Path: "/v1/health/service/conf-warn", Pick: healthFields, Settle: true},
		{Method: "GET", Path: "/v1/health/service/conf-warn?passing=1", Pick: healthFields, Settle: true},
		{Method: "PUT", Path: "/v1/agent/service/deregister/conf-warn", Text: true},
		{Method: "GET", Path: "/v1/health/service/conf-web?passing=1", Pick: healthFields, Settle: true},
		{Method: "GET", Path: "/v1/health/service/conf-web?tag=v1", Pick: healthFields, Settle: true},
		{Method: "GET", Path: "/v1/catalog/services", Pick: []string{"conf-web", "consul"}, Settle: true},
		{Method: "GET", Path: "/v1/catalog/service/conf-web", Pick: []string{"[].ServiceID", "[].ServicePort", "[].ServiceAddress", "[].ServiceTags", "[].ServiceMeta", "[].Node"}, Settle: true},
		// re-register with a tcp check: replace-existing-checks drops the ttl check
		{Method: "PUT", Path: "/v1/agent/service/register?replace-existing-checks=true",
			Body: `{"ID":"conf-web-1","Name":"conf-web","Address":"127.0.0.1","Port":8080,"Check":{"CheckID":"service:conf-web-1","Notes":"nvrun: tcp 127.0.0.1:1 every 10s, timeout 5s","TCP":"127.0.0.1:1","Interval":"10s","Timeout":"5s"}}`, Text: true},
		{Method: "GET", Path: "/v1/agent/services", Pick: agentServiceFields},
		// The status of a tcp check is what the real agent's network says: not compared.
		{Method: "GET", Path: "/v1/agent/checks", Pick: agentCheckFields},
		{Method: "PUT", Path: "/v1/agent/service/deregister/conf-web-1", Text: true},
		{Method: "PUT", Path: "/v1/agent/service/deregister/conf-web-2", Text: true},
		{Method: "GET", Path: "/v1/agent/services", Pick: agentServiceFields},
		{Method: "GET", Path: "/v1/health/service/conf-web", Pick: healthFields, Settle: true},
	}},
	{Name: "errors", Steps: []fakecheck.Step{
		{Method: "PUT", Path: "/v1/agent/service/register", Body: `{"Port":80}`, Text: true},
		{Method: "PUT", Path: "/v1/agent/service/deregister/conf-missing", Text: true},
		{Method: "GET", Path: "/v1/agent/service/register", Text: false},
	}},
}

func TestConformance(t *testing.T) {
	real := realConsul(t)
	fake := New(Options{NodeName: testserver.ConsulNodeName})
	fakecheck.Run(t, conformance, fake, real.HTTPAddr, nil)
}
