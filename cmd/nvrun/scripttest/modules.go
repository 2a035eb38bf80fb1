package scripttest

import (
	"context"
	"fmt"
	"io"
	"net"
	stdhttp "net/http"
	"path/filepath"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/builtins/http"
	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// modules wires the builtin modules for one plan() or apply(): every client's transport
// is its described fake, served in memory, or fakenet.Unreachable for a server the test
// does not describe (its part then plans as offline, with the runtime's usual warning).
// Consul's DNS and Nomad's agent config file go to the fakes too. keys is the
// directory of the keys file. reached, if set, is told when the script contacts a server
// the test does not describe.
func modules(servers map[string]*described, keys string, reached func(kind string)) []runtime.Module {
	transport := func(servers map[string]*described, kind string) func(stdhttp.RoundTripper) stdhttp.RoundTripper {
		return transport(servers, kind, reached)
	}
	return []runtime.Module{
		vault.Module(vault.Options{
			KeysFile:      filepath.Join(keys, "vault-keys.json"),
			Stderr:        io.Discard, // the keys of a fake Vault are made up
			WrapTransport: transport(servers, "vault"),
		}),
		nomad.Module(nomad.Options{
			WrapTransport: transport(servers, "nomad"),
			AgentFiles:    agentFiles(servers),
			PollInterval:  pollInterval,
			// A Nomad the test does not describe never comes back: fail at once rather
			// than after the real agent's restart patience.
			ReachWait: time.Nanosecond,
		}),
		consul.Module(consul.Options{WrapTransport: transport(servers, "consul"), Resolve: resolver(servers, reached)}),
		http.Module(http.Options{WrapTransport: transport(servers, "http")}),
	}
}

// pollInterval is how often nomad's waits poll: a fake answers at once, so waiting
// half a second between polls (the real default) would only slow the tests.
const pollInterval = 5 * time.Millisecond

// transport replaces a module client's transport (it never dials) with the fake.
func transport(servers map[string]*described, kind string, reached func(string)) func(stdhttp.RoundTripper) stdhttp.RoundTripper {
	var rt stdhttp.RoundTripper = undescribed{kind: kind, rt: fakenet.Unreachable(kind), reached: reached}
	if d := servers[kind]; d != nil {
		rt = fakenet.Transport(d.fake)
		if own, ok := d.fake.(stdhttp.RoundTripper); ok {
			// A fake that is a transport itself (httpfake) fails a request it has no
			// answer for as the request's own error, naming it.
			rt = own
		}
	}
	return func(stdhttp.RoundTripper) stdhttp.RoundTripper { return rt }
}

// agentFiles is the described Nomad's agent config file; with no Nomad described, a
// machine with no agent config (a file the script writes lives in memory for the run).
// Never the local file system, never a real on_change command.
func agentFiles(servers map[string]*described) nomad.AgentFiles {
	if d := servers["nomad"]; d != nil {
		if f, ok := d.fake.(nomad.AgentFiles); ok {
			return f
		}
	}
	return newNoAgentFiles()
}

// resolver answers consul.srv's DNS questions from the described Consul, or as a DNS
// server that is down.
func resolver(servers map[string]*described, reached func(string)) func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if d := servers["consul"]; d != nil {
		if r, ok := d.fake.(interface {
			Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)
		}); ok {
			return r.Resolve
		}
	}
	return func(context.Context, string, uint16) (*dns.Msg, error) {
		if reached != nil {
			reached("consul")
		}
		return nil, &net.OpError{Op: "dial", Net: "udp", Err: fmt.Errorf("consul is not described by the test's state: %w", syscall.ECONNREFUSED)}
	}
}

// undescribed is the transport of a server the test does not describe: it answers as a
// server that is down, after telling reached.
type undescribed struct {
	kind    string
	rt      stdhttp.RoundTripper
	reached func(string)
}

func (u undescribed) RoundTrip(req *stdhttp.Request) (*stdhttp.Response, error) {
	if u.reached != nil {
		u.reached(u.kind)
	}
	return u.rt.RoundTrip(req)
}
