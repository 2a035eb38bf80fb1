// Package consul is the `consul` builtin module: service discovery (health API and DNS),
// declarative agent service registration, KV, and waiting for a service to be healthy.
//
// Every builtin declares its resource (how to read, compare, write and delete it) or its
// query to the runtime (Run.Converge, Run.Query), which alone decides what happens in a
// plan, an offline plan or an apply, and what an agent that does not answer means.
package consul

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Options tune the module; the zero value is what nvrun uses.
type Options struct {
	// WrapTransport wraps the HTTP transport of the run's Consul client, so a test can
	// count the requests nvrun really sends.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Resolve, when set, answers consul.srv's DNS questions (SRV, then A or AAAA for a
	// target the answer's additional section leaves out) instead of the agent's DNS
	// interface: name is fully qualified ("web.service.consul."), and an error is a
	// failed lookup. The DNS server is still chosen as without it (dns=, CONSUL_DNS_ADDR
	// or /v1/agent/self), so messages name it. `nvrun test` sets it to its fake's
	// (builtins/consul/consulfake); nil asks over the network, as always.
	Resolve func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)
}

// Module returns the consul module.
func Module(opts Options) runtime.Module {
	return runtime.Module{Name: "consul", New: func(r *runtime.Run) (starlark.Value, error) {
		c := &consul{run: r, opts: opts, server: r.Server("consul")}
		// The token never reaches a Starlark value, but a server error could echo it.
		if tok := r.Env("CONSUL_HTTP_TOKEN"); tok != "" {
			r.Secret(tok)
		}
		return &starlarkstruct.Module{Name: "consul", Members: starlark.StringDict{
			"service":    starlark.NewBuiltin("consul.service", c.service),
			"srv":        starlark.NewBuiltin("consul.srv", c.srv),
			"register":   starlark.NewBuiltin("consul.register", c.register),
			"deregister": starlark.NewBuiltin("consul.deregister", c.deregister),
			"kv_put":     starlark.NewBuiltin("consul.kv_put", c.kvPut),
			"kv_get":     starlark.NewBuiltin("consul.kv_get", c.kvGet),
			"wait":       starlark.NewBuiltin("consul.wait", c.wait),
		}}, nil
	}}
}

// consul is the module's state for one run.
type consul struct {
	run    *runtime.Run
	opts   Options
	server *runtime.Server // the agent, as the runtime sees it: reachable, for this run

	client    *api.Client // created on first use: a script that never calls consul needs no agent
	clientErr error
	addr      string // the agent's HTTP address, for messages

	dns *dnsServer // the agent's DNS interface, looked up once
}

// api returns the run's client, creating it on first use.
func (c *consul) api() (*api.Client, error) {
	if c.client == nil && c.clientErr == nil {
		c.client, c.addr, c.clientErr = newClient(c.run.Env, c.run.Proxy(""), c.opts.WrapTransport)
	}
	return c.client, c.clientErr
}

// wrap names the agent in an error from the Consul API.
func (c *consul) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("consul at %s: %w", c.addr, err)
}
