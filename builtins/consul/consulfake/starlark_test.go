package consulfake

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestFromStarlark(t *testing.T) {
	f, err := FromStarlark(stateKwargs(t, `
services = {
    "web": [{"address": "10.0.0.5", "port": 8080, "tags": ["v1"]}, {"address": "10.0.0.6", "port": 8080, "status": "critical"}],
    "db": {"port": 5432, "meta": {"role": "primary"}, "check": {"tcp": "10.0.0.7:5432", "interval": "10s", "timeout": "2s"}},
}
kv = {"app/config": "v1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Services(), ","); got != "db,web-1,web-2" {
		t.Errorf("services %s, want db,web-1,web-2 (ids default to the name, numbered when several)", got)
	}
	if v, ok := f.KV("app/config"); !ok || v != "v1" {
		t.Errorf("kv app/config = %q %v", v, ok)
	}
	// web-2 is critical: DNS leaves it out.
	m, err := f.Resolve(context.Background(), "web.service.consul", dns.TypeSRV)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].(*dns.SRV).Target != "0a000005.addr.dc1.consul." {
		t.Errorf("SRV web = %v, %v; want only web-1", m, err)
	}
	// The described check is registered as consul.register registers it.
	f.mu.Lock()
	c := f.checks["service:db"]
	f.mu.Unlock()
	if c == nil || c.Notes != "nvrun: tcp 10.0.0.7:5432 every 10s, timeout 2s" || c.Status != "passing" {
		t.Errorf("db check = %+v", c)
	}
}

func TestFromStarlarkErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`service = {}`, `state.consul: unknown key "service" (did you mean "services"?)`},
		{`services = ["web"]`, `state.consul: services: want a dict of service name to instances, not list`},
		{`services = {"web": {"prot": 80}}`, `state.consul: services["web"]: unknown field "prot" (did you mean "port"?)`},
		{`services = {"web": [{"port": 80}, {"adress": "x"}]}`, `state.consul: services["web"][1]: unknown field "adress" (did you mean "address"?)`},
		{`services = {"web": {"port": "80"}}`, `port must be an int from 0 to 65535`},
		{`services = {"web": {"status": "ok"}}`, `status: want "passing", "warning" or "critical"`},
		{`services = {"web": {"check": {"type": "tcp"}}}`, `check: a tcp check needs "tcp"`},
		{`services = {"web": 80}`, `want an instance dict or a list of them, not int`},
		{`services = {"web": {"port": 80}, "api": {"id": "web"}}`, `services["api"]: id "web" is already described`},
		{`kv = {"a": 1}`, `state.consul: kv["a"]: want a string, not int`},
		{`kv = ["a"]`, `state.consul: kv: want a dict of key to string value, not list`},
	} {
		_, err := FromStarlark(stateKwargs(t, tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}
