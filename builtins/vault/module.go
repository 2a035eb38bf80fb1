// Package vault is the `vault` Starlark module: HashiCorp Vault (and OpenBao, which
// speaks the same API) driven declaratively.
//
// Every builtin declares its resource (how to read, compare, write and delete it) or its
// query to the runtime (Run.Converge, Run.Query), which alone decides what happens in a
// plan, an offline plan or an apply, and what a Vault that does not answer means. This
// file holds what they share: the module's configuration and the one API client of a
// run. A planned init, unseal or login blocks authenticated reads until apply
// (Resource.Pending); unauthenticated ones (seal status) still happen (Unblocked).
package vault

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// Options configure the module for every run it is used in; the zero value is what
// nvrun uses apart from the CLI's KeysFile and Stderr.
type Options struct {
	// KeysFile is where vault.init writes the unseal keys and the root token (0600,
	// never overwritten). Empty means NVRUN_KEYS_FILE from the run's environment, else
	// "vault-keys.json" in the working directory.
	KeysFile string
	// Stderr receives the last-resort dump of the init keys when the keys file cannot
	// be written. Nil means os.Stderr. It is deliberately not redacted: its whole point
	// is that the keys are not lost.
	Stderr io.Writer
	// Cleanups, if set, collects what must happen when a run ends (revoking the leases
	// of vault.read(..., revoke=True)) for the caller of runtime.Exec to run itself;
	// nil (the CLI) hands it to the runtime's Run.Defer.
	Cleanups *Cleanups
	// WrapTransport, if set, wraps the HTTP transport of each run's client. Tests and
	// benchmarks use it to count requests; it keeps the client's own keep-alive pool.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// dialTimeout bounds a TCP connect, so an unreachable (filtered) Vault is noticed in
// seconds rather than after the client's whole request timeout.
const dialTimeout = 5 * time.Second

// Module returns the `vault` module. Each run gets its own state (client, token,
// namespace, policies written so far), created lazily in Module.New's closure.
func Module(cfg Options) runtime.Module {
	return runtime.Module{Name: "vault", New: func(r *runtime.Run) (starlark.Value, error) {
		v := &vault{run: r, cfg: cfg, server: r.Server("vault"), policies: map[string]*policyRules{}, indexes: map[string]*nameIndex{}, authRoles: map[string]authRole{}}
		if tok := r.Env("VAULT_TOKEN"); tok != "" {
			r.Secret(tok) // registered for redaction before anything can print it
			v.token = tok
		}
		v.namespace = strings.Trim(r.Env("VAULT_NAMESPACE"), "/")
		r.Provide("vault.capabilities", &capabilityChecker{v: v})
		v.server.Retryable(retryable)

		b := func(name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
			return starlark.NewBuiltin("vault."+name, fn)
		}
		return &starlarkstruct.Module{Name: "vault", Members: starlark.StringDict{
			"status":     b("status", v.status),
			"init":       b("init", v.initVault),
			"unseal":     b("unseal", v.unseal),
			"login":      b("login", v.login),
			"namespace":  b("namespace", v.setNamespace),
			"policy":     b("policy", v.policy),
			"token_role": b("token_role", v.tokenRole),
			"token":      b("token", v.tokenCreate),
			"mount":      b("mount", v.mount),
			"auth":       b("auth", v.auth),
			"write":      b("write", v.write),
			"read":       b("read", v.read),
			"delete":     b("delete", v.delete),
			"list":       b("list", v.list),
		}}, nil
	}}
}

// vault is one run's module state.
type vault struct {
	run *runtime.Run
	cfg Options

	// client is created on first use (one per run, keep-alive), under clientMu: the
	// first use may be a plan's reads ahead, on several goroutines at once.
	clientMu  sync.Mutex
	client    *api.Client
	addr      string
	token     string
	namespace string

	// server is Vault as the runtime sees it in this run: whether it answered a plan,
	// and which planned change (init, unseal, login) blocks authenticated reads.
	server *runtime.Server

	// lastSeal is the seal status vault.init just saw (or made): vault.unseal, which
	// follows it, takes it instead of asking again. Nothing in between changes it.
	lastSeal *api.SealStatusResponse
	// initRoot is the root token this run's vault.init received: vault.login need not
	// ask Vault whether it is valid.
	initRoot string

	// policies written (or found unchanged) by this run, by namespace and name: the
	// capability checker knows them even in a plan, before they exist.
	policies map[string]*policyRules

	// authRoles are the token policies of the auth method roles this run writes
	// (auth/<path>/role/<name>), by namespace and role name: a Nomad job that names a
	// role (vault { role = ... }) is checked against them (capabilities.go).
	authRoles map[string]authRole

	// indexes are the listed names of collections (policies, token roles), by namespace
	// and LIST path, so that reads of absent names can be skipped (index.go). Reads
	// ahead use them concurrently: indexMu guards the map, each index its own fields.
	indexMu sync.Mutex
	indexes map[string]*nameIndex

	// minted are the accessors of the tokens this run minted or kept in use: never
	// strays (token_stray.go).
	minted map[string]bool
}

// Reasons a planned change blocks Vault's authenticated reads until apply
// (runtime.Resource.Pending), as the plan's notes show them.
const (
	notLoggedIn   runtime.Unread = "not logged in until apply"
	initAtApply   runtime.Unread = "Vault is initialised at apply"
	unsealAtApply runtime.Unread = "Vault is unsealed at apply"
)

// offlineNote is the plan note of a write planned with Vault unread.
const offlineNote = "offline: live state not read; shown as a create"

// unreadNotes are the notes of a change planned without reading Vault: offline (or
// unreachable), or blocked by a change planned earlier in this run.
func unreadNotes(live runtime.Live) []string {
	switch {
	case live.Known():
		return nil
	case live.Pending():
		return []string{"live state will be read at apply (" + string(live.Unread) + ")"}
	}
	return []string{offlineNote}
}

// api returns the run's client, creating it on first use, for namespace ns ("" means
// the run's current namespace). Clients for other namespaces are shallow copies that
// share the one HTTP connection pool.
func (v *vault) api(ns string) (*api.Client, error) {
	v.clientMu.Lock()
	if v.client == nil {
		c, err := v.newClient()
		if err != nil {
			v.clientMu.Unlock()
			return nil, err
		}
		v.client = c
	}
	client := v.client
	v.clientMu.Unlock()
	if ns == "" {
		ns = v.namespace
	}
	if ns == "" {
		return client, nil
	}
	return client.WithNamespace(ns), nil
}

// newClient builds the client from api.DefaultConfig, then overrides everything the
// environment can set with the run's environment (run.Env), not the process's: tests
// pass a controlled environment, and the CLI passes os.Environ anyway.
func (v *vault) newClient() (*api.Client, error) {
	conf := api.DefaultConfig()
	conf.Error = nil // it reports the process environment, which we do not use
	v.addr = v.run.Env("VAULT_ADDR")
	if v.addr == "" {
		v.addr = api.DefaultAddress
	}
	conf.Address = v.addr
	conf.AgentAddress = ""
	// No retries: a sealed or unreachable Vault should fail at once with its own
	// message, and request counts stay deterministic.
	conf.MaxRetries = 0
	conf.Limiter = nil
	conf.SRVLookup = false
	conf.Timeout = 60 * time.Second
	if t := v.run.Env("VAULT_CLIENT_TIMEOUT"); t != "" {
		var d runtime.DurationArg
		if err := d.Unpack(starlark.String(t)); err != nil {
			return nil, fmt.Errorf("VAULT_CLIENT_TIMEOUT: %w", err)
		}
		conf.Timeout = d.D()
	}

	transport, ok := conf.HttpClient.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("vault client: unexpected transport %T", conf.HttpClient.Transport)
	}
	transport.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	// As many kept-alive connections as reads in flight (a plan's reads ahead): the
	// default keeps GOMAXPROCS+1, and would close and dial again the rest after each read.
	transport.MaxIdleConnsPerHost = max(transport.MaxIdleConnsPerHost, v.run.Parallelism())
	transport.TLSClientConfig = transport.TLSClientConfig.Clone()
	transport.TLSClientConfig.RootCAs, transport.TLSClientConfig.InsecureSkipVerify = nil, false
	transport.TLSClientConfig.GetClientCertificate, transport.TLSClientConfig.ServerName = nil, ""
	tlsConf := &api.TLSConfig{
		CACert:        v.run.Env("VAULT_CACERT"),
		CAPath:        v.run.Env("VAULT_CAPATH"),
		ClientCert:    v.run.Env("VAULT_CLIENT_CERT"),
		ClientKey:     v.run.Env("VAULT_CLIENT_KEY"),
		TLSServerName: v.run.Env("VAULT_TLS_SERVER_NAME"),
	}
	if s := v.run.Env("VAULT_SKIP_VERIFY"); s != "" && s != "0" && !strings.EqualFold(s, "false") {
		tlsConf.Insecure = true
	}
	if err := conf.ConfigureTLS(tlsConf); err != nil {
		return nil, fmt.Errorf("vault client TLS: %w", err)
	}
	transport.Proxy = v.proxy()
	conf.DisableRedirects = v.run.Env("VAULT_DISABLE_REDIRECTS") == "true"
	if v.cfg.WrapTransport != nil {
		conf.HttpClient.Transport = v.cfg.WrapTransport(transport)
	}

	c, err := api.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", v.addr, err)
	}
	// After NewClient, which sets a unix socket's dialer on the *http.Transport itself.
	conf.HttpClient.Transport = retryAfterTransport{conf.HttpClient.Transport}
	// NewClient reads VAULT_TOKEN and VAULT_NAMESPACE from the process environment;
	// the run's own values (set in Module.New) win.
	c.ClearToken()
	c.ClearNamespace()
	c.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}}) // drop VAULT_HEADERS; keep the SSRF guard
	if v.token != "" {
		c.SetToken(v.token)
	}
	return c, nil
}

// proxy chooses a proxy from the run's environment, as the process's would: the Vault
// client's own VAULT_PROXY_ADDR (or VAULT_HTTP_PROXY) for every request, else the usual
// HTTP(S)_PROXY and NO_PROXY. Loopback addresses are never proxied.
func (v *vault) proxy() func(*http.Request) (*url.URL, error) {
	return v.run.Proxy(firstNonEmpty(v.run.Env("VAULT_PROXY_ADDR"), v.run.Env("VAULT_HTTP_PROXY")))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// setToken makes token the client's token for the rest of the run.
func (v *vault) setToken(token string) {
	v.token = token
	if v.client != nil {
		v.client.SetToken(token)
	}
}

// keysFile is where init writes (and a second run loads) the keys.
func (v *vault) keysFile() string {
	if v.cfg.KeysFile != "" {
		return v.cfg.KeysFile
	}
	if p := v.run.Env("NVRUN_KEYS_FILE"); p != "" {
		return p
	}
	return "vault-keys.json"
}

func (v *vault) stderr() io.Writer {
	if v.cfg.Stderr != nil {
		return v.cfg.Stderr
	}
	return os.Stderr
}

// address names a resource in the plan, with its namespace when it is not the root.
func (v *vault) address(ns, kind, name string) string {
	if ns == "" {
		ns = v.namespace
	}
	a := fmt.Sprintf("vault %s %q", kind, name)
	if ns != "" {
		a += fmt.Sprintf(" (namespace %q)", ns)
	}
	return a
}

// sealStatus reads sys/seal-status (unauthenticated), or takes the answer init left.
func (v *vault) sealStatus(ctx context.Context, c *api.Client) (*api.SealStatusResponse, error) {
	if st := v.lastSeal; st != nil {
		v.lastSeal = nil
		return st, nil
	}
	return c.Sys().SealStatusWithContext(ctx)
}
