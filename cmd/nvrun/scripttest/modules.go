package scripttest

import (
	"io"
	stdhttp "net/http"
	"path/filepath"
	"time"

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
// tmp is the run's own directory (the keys file).
func modules(servers map[string]*described, tmp string) []runtime.Module {
	return []runtime.Module{
		vault.Module(vault.Options{
			KeysFile:      filepath.Join(tmp, "vault-keys.json"),
			Stderr:        io.Discard, // the keys of a fake Vault are made up
			WrapTransport: transport(servers, "vault"),
		}),
		nomad.Module(nomad.Options{PollInterval: pollInterval}),
		consul.Module(consul.Options{WrapTransport: transport(servers, "consul")}),
		http.Module(http.Options{WrapTransport: transport(servers, "http")}),
	}
}

// pollInterval is how often nomad's waits poll: a fake answers at once, so waiting
// half a second between polls (the real default) would only slow the tests.
const pollInterval = 5 * time.Millisecond

// transport replaces a module client's transport (it never dials) with the fake.
func transport(servers map[string]*described, kind string) func(stdhttp.RoundTripper) stdhttp.RoundTripper {
	rt := fakenet.Unreachable(kind)
	if d := servers[kind]; d != nil {
		rt = fakenet.Transport(d.fake)
	}
	return func(stdhttp.RoundTripper) stdhttp.RoundTripper { return rt }
}
