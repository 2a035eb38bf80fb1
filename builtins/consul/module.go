// Package consul is the `consul` builtin module: service discovery (health API and DNS),
// declarative agent service registration, KV, and waiting for a service to be healthy.
//
// Every builtin reads live state unless the run is offline, and hands anything that
// writes to the runtime's effect interface, so plan and apply share one code path.
package consul

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Module returns the consul module.
func Module() runtime.Module { return module(config{}) }

// config holds test hooks; its zero value is production.
type config struct {
	// wrapTransport wraps the HTTP transport of the run's Consul client, so a test can
	// count the requests nvrun really sends.
	wrapTransport func(http.RoundTripper) http.RoundTripper
}

func module(cfg config) runtime.Module {
	return runtime.Module{Name: "consul", New: func(r *runtime.Run) (starlark.Value, error) {
		c := &consul{run: r, cfg: cfg}
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
	run *runtime.Run
	cfg config

	client    *api.Client // created on first use: a script that never calls consul needs no agent
	clientErr error
	addr      string // the agent's HTTP address, for messages

	dns *dnsServer // the agent's DNS interface, looked up once

	// unreachable is set when a live plan found the agent down: the rest of the plan
	// then behaves as an offline one rather than failing.
	unreachable bool
}

// api returns the run's client, creating it on first use.
func (c *consul) api() (*api.Client, error) {
	if c.client == nil && c.clientErr == nil {
		c.client, c.addr, c.clientErr = newClient(c.run.Env, c.run.Proxy(""), c.cfg.wrapTransport)
	}
	return c.client, c.clientErr
}

// offline says reads must be skipped: an --offline plan, the apply preflight, or a live
// plan that already found the agent unreachable.
func (c *consul) offline() bool { return c.run.Offline() || c.unreachable }

// readFailed decides what a failed read means (err already names the server). In a plan an unreachable agent is not
// fatal: a plan must work before Consul exists, so the run warns once and the caller
// carries on as if offline (readFailed returns nil). In apply, or for any other error
// (an ACL denial, a bad request), the error stands.
func (c *consul) readFailed(err error) error {
	if c.run.Mode() == runtime.Plan && unreachable(err) {
		c.unreachable = true
		c.run.Warn("consul is unreachable (%v); the plan shows what consul would read as known only after apply", err)
		return nil
	}
	return err
}

// wrap names the agent in an error from the Consul API.
func (c *consul) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("consul at %s: %w", c.addr, err)
}

// unreachable says whether err means nothing answered (refused, timed out, no route,
// unresolvable host), as opposed to an answer we did not like.
//
// A TLS failure (a certificate nvrun does not trust) is an answer, so it is never
// unreachable: a live plan fails on it rather than planning as if offline.
func unreachable(err error) bool {
	if runtime.IsTLSError(err) {
		return false
	}
	var op *net.OpError
	var dnsErr *net.DNSError
	var uerr *url.Error
	switch {
	case errors.As(err, &op), errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED):
		return true
	case errors.As(err, &uerr):
		return uerr.Timeout()
	}
	return false
}

// stringArg accepts a string, or an Unknown in a plan (reported by the second result).
func stringArg(fn, param string, v starlark.Value) (string, bool, error) {
	if _, ok := v.(*runtime.Unknown); ok {
		return "", true, nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return "", false, fmt.Errorf("%s: %s must be a string, not %s", fn, param, v.Type())
	}
	return s, false, nil
}

// optString accepts None, a string, or an Unknown.
func optString(fn, param string, v starlark.Value) (string, bool, error) {
	if v == nil || v == starlark.None {
		return "", false, nil
	}
	return stringArg(fn, param, v)
}
