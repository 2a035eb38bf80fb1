package consul

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// srv(name, tag=None, dns=None) answers as `dig +short SRV name.service.consul` does,
// through Consul's DNS interface: a list of struct(target, host, port, priority, weight),
// where host is the address the target resolves to. Critical instances are not in the
// answer (Consul's DNS leaves them out).
//
// The DNS server is dns= (host or host:port; port 53 if none), else CONSUL_DNS_ADDR,
// else the DNS port and client address the agent reports in /v1/agent/self.
//
// It is recorded as a Read. A service with no instances is "not yet" (runtime.NotYetError):
// an earlier step of the same apply may be what deploys it, so a plan records an Unknown
// and an apply fails naming the service. The fingerprint hashes the answer.
func (c *consul) srv(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name runtime.StringArg
	var tag, dns runtime.OptStringArg
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "tag?", &tag, "dns?", &dns); err != nil {
		return nil, err
	}
	qname := func(domain string) string {
		q := name.Value + ".service." + domain
		if tag.Value != "" {
			q = tag.Value + "." + q
		}
		return strings.TrimSuffix(q, ".")
	}
	shown := fmt.Sprintf("%q", qname(defaultDomain))
	if name.IsUnknown() {
		shown = name.UnknownText()
	}
	return c.run.Query(thread, runtime.Query{
		Server:  c.server,
		Address: "consul srv " + shown,
		Unknown: firstUnknown(name, tag.StringArg, dns.StringArg),
		Record:  true,
		Summary: "SRV lookup",
		Read: func(ctx context.Context) (runtime.Answer, error) {
			server, err := c.dnsServerFor(ctx, dns.Value)
			if err != nil {
				return runtime.Answer{}, err
			}
			recs, err := lookupSRVWith(ctx, c.ask(), server.addr, qname(server.domain))
			if errors.Is(err, errNoInstances) {
				// An earlier step of the same apply may be what deploys the service.
				return runtime.Answer{}, &runtime.NotYetError{
					Err:     fmt.Errorf("service %q has no healthy instances (SRV %s via %s, from %s)", name.Value, qname(server.domain), server.addr, server.from),
					Summary: "no healthy instances yet: known after apply",
					Note:    fmt.Sprintf("%s has no answer via %s now; apply looks it up again after the steps before it have run", qname(server.domain), server.addr),
				}
			}
			if err != nil {
				return runtime.Answer{}, err
			}
			return runtime.Answer{Value: srvList(recs), Summary: srvSummary(recs), Fingerprint: runtime.HashFingerprint(recs)}, nil
		},
	})
}

func srvList(recs []srvRecord) *starlark.List {
	out := make([]starlark.Value, len(recs))
	for i, r := range recs {
		out[i] = runtime.Struct(starlark.StringDict{
			"target":   starlark.String(r.Target),
			"host":     starlark.String(r.Host),
			"port":     starlark.MakeInt(r.Port),
			"priority": starlark.MakeInt(r.Priority),
			"weight":   starlark.MakeInt(r.Weight),
		})
	}
	return starlark.NewList(out)
}

// srvSummary lists the first few answers as host:port.
func srvSummary(recs []srvRecord) string {
	var hp []string
	for i, r := range recs {
		if i == 3 {
			hp = append(hp, "…")
			break
		}
		hp = append(hp, fmt.Sprintf("%s:%d", r.Host, r.Port))
	}
	noun := "answers"
	if len(recs) == 1 {
		noun = "answer"
	}
	return fmt.Sprintf("%d %s: %s", len(recs), noun, strings.Join(hp, ", "))
}
