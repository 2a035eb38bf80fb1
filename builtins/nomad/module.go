// Package nomad is the `nomad` builtin module: Nomad job specs as Starlark values, jobs
// planned with Nomad's own job-plan API and registered with an enforced modify index, and
// the `vault {}` block of a Nomad agent config file.
//
// Every builtin declares its resource (how to read, compare, write and delete it) or its
// query to the runtime (Run.Converge, Run.Query), which alone decides what happens in a
// plan, an offline plan or an apply, and what a Nomad that does not answer means.
//
// The builtins, one file each:
//
//	nomad.job / group / task / network / service / check / vault / template / resources
//	                                   job spec values                     (jobspec.go)
//	nomad.run(job, wait="healthy", timeout="5m")
//	    -> struct(id, version, modify_index, allocations)                  (run.go)
//	nomad.stop(id, purge=False) -> None                                    (stop.go)
//	nomad.status(id) -> struct or None; nomad.allocations(id) -> [struct]  (status.go)
//	nomad.agent_config(path, vault={...}, on_change=[argv])
//	    -> struct(path, changed)                                           (agent_config.go)
//	nomad.agent_config_read(path) -> struct(enabled, address, token, ...)  (agent_config_read.go)
//
// The client is configured from the run's environment only: NOMAD_ADDR, NOMAD_TOKEN,
// NOMAD_NAMESPACE, NOMAD_REGION (and the NOMAD_CACERT family for TLS).
package nomad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Options tune the module. The zero value is what nvrun uses.
type Options struct {
	// BeforeRegister runs in nomad.run's apply between the plan that fixes the job's
	// modify index and the register that enforces it. Tests use it to change the job
	// behind nvrun's back and check that the register is refused.
	BeforeRegister func(ctx context.Context, client *api.Client, jobID string) error
	// PollInterval is how often waits poll Nomad; zero means 500ms.
	PollInterval time.Duration
	// ReachWait is how long an apply gives a Nomad that does not answer before failing:
	// zero means 10s, or 90s after an on_change command (a restart) ran.
	ReachWait time.Duration
	// WrapTransport wraps the HTTP transport of the run's Nomad client (nomad/api), so
	// a test can count the requests nvrun sends, or `nvrun test` can answer them with a
	// fake (runtime/fakenet). Nil: nomad/api's own transport, as always.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// AgentFiles is where nomad.agent_config and nomad.agent_config_read read and write
	// the agent config file and how on_change runs (agent_files.go). Nil: the local
	// file system and a real process.
	AgentFiles AgentFiles
}

// Module returns the nomad module; nvrun wires it with zero Options.
func Module(opts Options) runtime.Module {
	return runtime.Module{Name: "nomad", New: func(r *runtime.Run) (starlark.Value, error) {
		m := &module{run: r, opts: opts, server: r.Server("nomad")}
		// An apply gives a Nomad that does not answer this long (90s after a restart:
		// agent_config's Write) before it fails.
		m.server.Patience(m.reachWait(10 * time.Second))
		return moduleValue(m), nil
	}}
}

func moduleValue(m *module) starlark.Value {
	return &starlarkstruct.Module{Name: "nomad", Members: m.members()}
}

// module is the per-run state: one lazily created client, and whether Nomad answered.
type module struct {
	run    *runtime.Run
	opts   Options
	server *runtime.Server // Nomad, as the runtime sees it for this run

	client    *api.Client
	clientErr error
	probed    bool // Nomad answered the probe (since the last restart)
	restarted bool // an on_change command ran: Nomad may be coming back up
}

func (m *module) members() starlark.StringDict {
	b := func(name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin("nomad."+name, fn)
	}
	return starlark.StringDict{
		// job spec builders (jobspec.go)
		"job":       b("job", m.jobBuiltin),
		"group":     b("group", m.groupBuiltin),
		"task":      b("task", m.taskBuiltin),
		"network":   b("network", m.networkBuiltin),
		"service":   b("service", m.serviceBuiltin),
		"check":     b("check", m.checkBuiltin),
		"vault":     b("vault", m.vaultBuiltin),
		"identity":  b("identity", m.identityBuiltin),
		"template":  b("template", m.templateBuiltin),
		"resources": b("resources", m.resourcesBuiltin),
		// jobs (run.go, stop.go, status.go)
		"run":         b("run", m.runBuiltin),
		"stop":        b("stop", m.stopBuiltin),
		"status":      b("status", m.statusBuiltin),
		"allocations": b("allocations", m.allocationsBuiltin),
		// agent config (agent_config.go, agent_config_read.go)
		"agent_config":      b("agent_config", m.agentConfigBuiltin),
		"agent_config_read": b("agent_config_read", m.agentConfigReadBuiltin),
	}
}

// clientConfig builds the API config from the run's environment only: never from the
// process environment, so tests control exactly which Nomad is talked to.
func (m *module) clientConfig() *api.Config {
	addr := m.run.Env("NOMAD_ADDR")
	if addr == "" {
		addr = "http://127.0.0.1:4646"
	}
	cfg := &api.Config{
		Address:   addr,
		Region:    m.run.Env("NOMAD_REGION"),
		Namespace: m.run.Env("NOMAD_NAMESPACE"),
		TLSConfig: &api.TLSConfig{
			CACert:        m.run.Env("NOMAD_CACERT"),
			CAPath:        m.run.Env("NOMAD_CAPATH"),
			ClientCert:    m.run.Env("NOMAD_CLIENT_CERT"),
			ClientKey:     m.run.Env("NOMAD_CLIENT_KEY"),
			TLSServerName: m.run.Env("NOMAD_TLS_SERVER_NAME"),
		},
	}
	if v := m.run.Env("NOMAD_SKIP_VERIFY"); v != "" {
		cfg.TLSConfig.Insecure, _ = strconv.ParseBool(v)
	}
	if tok := m.run.Env("NOMAD_TOKEN"); tok != "" {
		// Registered with the redactor so that the token can never reach any output,
		// even through a server error that echoes a header.
		m.run.Secret(tok)
		cfg.SecretID = tok
	}
	return cfg
}

// wrappedHTTPClient is the HTTP client nomad/api would build for cfg (pooled, TLS from
// cfg.TLSConfig), with its transport wrapped.
func wrappedHTTPClient(cfg *api.Config, wrap func(http.RoundTripper) http.RoundTripper) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	hc := &http.Client{Transport: tr}
	if err := api.ConfigureTLS(hc, cfg.TLSConfig); err != nil {
		return nil, err
	}
	hc.Transport = wrap(hc.Transport)
	return hc, nil
}

// address is the Nomad address for messages, without any user:password.
func (m *module) address() string {
	addr := m.run.Env("NOMAD_ADDR")
	if addr == "" {
		addr = "http://127.0.0.1:4646"
	}
	if u, err := url.Parse(addr); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return addr
}

func (m *module) getClient() (*api.Client, error) {
	if m.client == nil && m.clientErr == nil {
		cfg := m.clientConfig()
		if m.opts.WrapTransport != nil {
			cfg.HttpClient, m.clientErr = wrappedHTTPClient(cfg, m.opts.WrapTransport)
		}
		if m.clientErr == nil {
			m.client, m.clientErr = api.NewClient(cfg)
		}
		if m.clientErr != nil {
			m.clientErr = fmt.Errorf("nomad client for %s: %w", m.address(), m.clientErr)
		}
	}
	return m.client, m.clientErr
}

// api returns the run's client once Nomad has answered the probe (again after an
// on_change restart). Its errors name the address; whether one that says "nothing
// answered" is forgiven (a plan, planned around with one warning) or waited out (an
// apply, for the server's patience) is the runtime's decision, not the module's.
func (m *module) api(ctx context.Context) (*api.Client, error) {
	c, err := m.getClient()
	if err != nil {
		return nil, err
	}
	if !m.probed {
		if err := m.probe(ctx, c); err != nil {
			return nil, err
		}
		m.probed = true
	}
	return c, nil
}

// probe asks Nomad for its leader: any answer will do, except right after an on_change
// restart (which only an apply runs), where Nomad is given time to elect a leader before
// jobs are sent to it. A certificate nvrun does not trust is an answer, and an error.
func (m *module) probe(ctx context.Context, c *api.Client) error {
	deadline := time.Now().Add(m.reachWait(90 * time.Second))
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var leader string
		_, err := c.Raw().Query("/v1/status/leader", &leader, new(api.QueryOptions).WithContext(pctx))
		cancel()
		switch {
		case runtime.IsTLSError(err):
			return fmt.Errorf("Nomad at %s answered, but TLS failed: %w (NOMAD_CACERT names the CA that signs its certificate)", m.address(), err)
		case err != nil && isTransport(err):
			return fmt.Errorf("cannot reach Nomad at %s: %w", m.address(), err)
		case err == nil && leader == "" && m.restarted && time.Now().Before(deadline):
		default:
			return nil // Nomad answered; whatever ails it, its own errors will say
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// reachWait is Options.ReachWait, or def.
func (m *module) reachWait(def time.Duration) time.Duration {
	if m.opts.ReachWait > 0 {
		return m.opts.ReachWait
	}
	return def
}

// isTransport says whether err is a transport failure rather than an answer from Nomad
// (any HTTP status, even an error, proves that Nomad is there).
func isTransport(err error) bool {
	var resp api.UnexpectedResponseError
	return !errors.As(err, &resp) && !runtime.IsTLSError(err)
}

// isNotFound says whether Nomad answered 404.
func isNotFound(err error) bool {
	var resp api.UnexpectedResponseError
	return errors.As(err, &resp) && resp.StatusCode() == 404
}

// nomadError names the operation and keeps Nomad's own text, which is what users search
// for. The redactor scrubs it again on the way out.
func nomadError(op string, err error) error {
	var resp api.UnexpectedResponseError
	if errors.As(err, &resp) && resp.HasBody() {
		return fmt.Errorf("%s: Nomad said (%d): %s", op, resp.StatusCode(), resp.Body())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The request was sent: a write may have been applied.
		return fmt.Errorf("%s: Nomad's answer was cut off (%w); what was sent may have been applied, and a re-run finds out", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// writeOptions targets a namespace and region when the job names them; otherwise the
// client's (NOMAD_NAMESPACE, NOMAD_REGION) apply.
func writeOptions(ctx context.Context, namespace, region string) *api.WriteOptions {
	return (&api.WriteOptions{Namespace: namespace, Region: region}).WithContext(ctx)
}

func queryOptions(ctx context.Context, namespace, region string) *api.QueryOptions {
	return (&api.QueryOptions{Namespace: namespace, Region: region}).WithContext(ctx)
}
