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
// It is recorded as a Read. In a live plan the lookup is made, but a service with no
// instances is not an error: an earlier step of the same apply may be what deploys it,
// so the plan records an Unknown. In apply, no instances is an error naming the service.
func (c *consul) srv(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var nameV, tagV, dnsV starlark.Value = nil, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &nameV, "tag?", &tagV, "dns?", &dnsV); err != nil {
		return nil, err
	}
	name, nameUnknown, err := stringArg(fn.Name(), "name", nameV)
	if err != nil {
		return nil, err
	}
	tag, tagUnknown, err := optString(fn.Name(), "tag", tagV)
	if err != nil {
		return nil, err
	}
	explicit, dnsUnknown, err := optString(fn.Name(), "dns", dnsV)
	if err != nil {
		return nil, err
	}
	qname := func(domain string) string {
		q := name + ".service." + domain
		if tag != "" {
			q = tag + "." + q
		}
		return strings.TrimSuffix(q, ".")
	}
	shown := fmt.Sprintf("%q", qname(defaultDomain))
	if nameUnknown {
		shown = nameV.String()
	}
	change := runtime.Change{Address: "consul srv " + shown, Action: runtime.Read, Summary: "SRV lookup"}

	lookup := func(ctx context.Context) ([]srvRecord, *dnsServer, error) {
		server, err := c.dnsServerFor(ctx, explicit)
		if err != nil {
			return nil, nil, err
		}
		recs, err := lookupSRV(ctx, server.addr, qname(server.domain))
		return recs, server, err
	}
	change.Apply = func(ctx context.Context) (starlark.Value, error) {
		recs, server, err := lookup(ctx)
		if errors.Is(err, errNoInstances) {
			return nil, fmt.Errorf("service %q has no healthy instances (SRV %s via %s, from %s)", name, qname(server.domain), server.addr, server.from)
		}
		if err != nil {
			return nil, err
		}
		return srvList(recs), nil
	}

	if nameUnknown || tagUnknown || dnsUnknown || c.offline() || c.run.Mode() == runtime.Apply {
		// Offline (or with arguments known only after apply) Effect returns an Unknown
		// without calling Apply; in apply it calls it.
		return c.run.Effect(thread, change)
	}

	recs, server, err := lookup(c.run.Context())
	switch {
	case errors.Is(err, errNoInstances):
		change.Summary = "no healthy instances yet: known after apply"
		change.Notes = []string{fmt.Sprintf("%s has no answer via %s now; apply looks it up again after the steps before it have run", qname(server.domain), server.addr)}
		return c.run.Effect(thread, change)
	case err != nil:
		if err := c.readFailed(err); err != nil {
			return nil, err
		}
		return c.run.Effect(thread, change)
	}
	value := srvList(recs)
	change.Summary = srvSummary(recs)
	change.SafeInPlan = true
	change.Apply = func(context.Context) (starlark.Value, error) { return value, nil }
	return c.run.Effect(thread, change)
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
