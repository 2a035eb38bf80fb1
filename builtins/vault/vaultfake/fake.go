// Package vaultfake is an in-memory Vault for `nvrun test`: an http.Handler that speaks
// the subset of Vault 1.14's HTTP API that builtins/vault uses, with Vault's status
// codes, JSON shapes and error texts for the answers nvrun reads. The builtin's own
// code runs unchanged against it (runtime/fakenet plugs it in as the client's
// transport), and conformance_test.go runs one table of requests against it and
// against the real Vault, so the two cannot drift apart unnoticed.
//
// Tokens: unless the state lists tokens, any non-empty token is valid and root-like
// (a described Vault is one the test may do anything with). With tokens=[...], only
// the listed tokens and the tokens the fake minted are valid; any other gets Vault's
// 403 "permission denied", and requests are checked against the token's policies. A
// revoked token is invalid either way.
//
// Keys: a described Vault (initialised, sealed or not) takes any well-formed unseal
// key, as the test cannot know keys it never saw. A Vault the script initialises
// (state.vault(initialized=False) and vault.init) behaves like the real one from
// then on: only its own root token and its own unseal keys are valid.
//
// Served (everything else answers as Vault does to a path it has no handler for):
//
//	sys/seal-status, sys/init, sys/unseal, sys/seal, sys/leader, sys/health
//	sys/policies/acl[/<name>] (LIST, GET, PUT, DELETE), sys/policy[/<name>]
//	sys/mounts[/<path>[/tune]], sys/mounts/auth/<path>/tune, sys/auth[/<path>[/tune]]
//	sys/capabilities, sys/capabilities-self (ACL paths with * and +, Vault's priority)
//	sys/leases/{revoke,revoke-prefix/<prefix>,lookup}, sys/revoke[/<id>], sys/revoke-prefix/<prefix>
//	auth/token/{lookup-self,lookup,lookup-accessor,revoke-accessor,revoke,revoke-orphan,
//	  revoke-self,accessors,create,create-orphan,create/<role>,roles[/<name>]}
//	kv version 1 and 2 mounts (data/, metadata/), database mounts (config/, roles/,
//	  creds/: made-up credentials and a lease; no database is contacted), jwt and oidc
//	  auth methods (config, role/; jwks_url is not fetched, login is not served).
//	Other engine types mount, and store and read back what is written, as kv 1.
//
// Non-root tokens are checked against their policies (create or update by Vault's
// existence checks, sudo on root-protected paths). Namespaces are ignored, as by
// Vault OSS. Templated policy paths ({{identity...}}) are taken literally.
package vaultfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Fake is an in-memory Vault; safe for concurrent use (plans may read concurrently).
type Fake struct {
	mu sync.Mutex

	initialized, sealed bool
	shares, threshold   int
	unsealKeys          []string // hex
	progress            int      // unseal keys submitted so far
	wrongKey            bool     // one of them is not a key of this Vault
	anyKey              bool     // described, not initialised through sys/init: any well-formed key unseals it
	clusterName         string
	clusterID           string

	policies   map[string]string         // name -> HCL text; "default" included, "root" implicit
	tokenRoles map[string]map[string]any // name -> the role as Vault reads it back
	mounts     map[string]*mount         // "path/" -> secrets engine
	auths      map[string]*mount         // "path/" -> auth method
	tokens     map[string]*token         // by token
	accessors  map[string]*token         // by accessor
	anyToken   bool                      // no tokens described: every non-empty token is root-like
	revoked    map[string]bool           // tokens revoked: invalid even when anyToken
	data       map[string]map[string]any // generic paths (kv, database config and roles, jwt config and roles)
	leases     map[string]*lease         // by lease id

	seq int // for made-up ids: deterministic, so a fake's answers are reproducible
}

// New returns an initialised, unsealed Vault as `vault operator init` leaves it: the
// default policy, the token auth method, the cubbyhole, identity and sys mounts, and
// any token accepted as root.
func New() *Fake {
	f := &Fake{
		initialized: true, shares: 1, threshold: 1,
		policies: map[string]string{}, tokenRoles: map[string]map[string]any{},
		mounts: map[string]*mount{}, auths: map[string]*mount{},
		tokens: map[string]*token{}, accessors: map[string]*token{},
		anyToken: true, anyKey: true, data: map[string]map[string]any{}, leases: map[string]*lease{},
	}
	f.unsealKeys = []string{f.hexID(33)}
	f.setInitialised()
	return f
}

// setInitialised sets up what sys/init creates: built-in mounts and the default policy.
func (f *Fake) setInitialised() {
	f.initialized = true
	f.clusterName = "vault-cluster-" + f.hexID(4)
	f.clusterID = f.uuid()
	f.policies["default"] = defaultPolicy
	f.mounts["cubbyhole/"] = f.newMount("cubbyhole", "per-token private secret storage", nil)
	f.mounts["cubbyhole/"].Local = true
	f.mounts["identity/"] = f.newMount("identity", "identity store", nil)
	f.mounts["sys/"] = f.newMount("system", "system endpoints used for control, policy and debugging", nil)
	f.mounts["sys/"].SealWrap = true
	f.auths["token/"] = f.newMount("token", "token based credentials", nil)
	f.auths["token/"].Accessor = "auth_token_" + f.hexID(4)
	f.auths["token/"].Config["token_type"] = "default-service"
}

// request is one API call as the handlers see it.
type request struct {
	op    string // "read", "list", "update" (PUT/POST), "delete"
	path  string // without /v1/ and without a trailing slash
	body  map[string]any
	token string
	tok   *token // the caller's token, once checked; nil for unauthenticated paths
}

// answer is what a handler returns: a status and a JSON body (nil: no body).
type answer struct {
	status int
	body   any
}

func ok(body any) answer { return answer{http.StatusOK, body} }
func noContent() answer  { return answer{http.StatusNoContent, nil} }
func fail(status int, msgs ...string) answer {
	if msgs == nil {
		msgs = []string{}
	}
	return answer{status, map[string]any{"errors": msgs}}
}

// multi is how Vault wraps some errors (a go-multierror of one).
func multi(msg string) string { return "1 error occurred:\n\t* " + msg + "\n\n" }

var (
	notFound        = fail(http.StatusNotFound)
	unsupported     = fail(http.StatusMethodNotAllowed, multi("unsupported operation"))
	denied          = fail(http.StatusForbidden, "permission denied")
	sealedAnswer    = fail(http.StatusServiceUnavailable, "Vault is sealed")
	unsupportedPath = fail(http.StatusNotFound, multi("unsupported path"))
)

func noRoute(path string) answer {
	return fail(http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
}

// ServeHTTP answers one Vault API request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := f.serve(r)
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// serve answers r: the status and the JSON body (nil: none), encoded while the fake
// is locked, since answers refer to the fake's own maps.
func (f *Fake) serve(r *http.Request) (int, []byte) {
	path, found := strings.CutPrefix(r.URL.Path, "/v1/")
	if !found {
		return encode(notFound)
	}
	req := &request{path: strings.TrimSuffix(path, "/"), token: r.Header.Get("X-Vault-Token")}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		req.op = "read"
		if r.URL.Query().Get("list") == "true" {
			req.op = "list"
		}
	case "LIST":
		req.op = "list"
	case http.MethodPut, http.MethodPost:
		req.op = "update"
	case http.MethodDelete:
		req.op = "delete"
	case http.MethodPatch:
		// The fake serves no PATCH (nvrun sends none); Vault first wants a merge patch.
		if r.Header.Get("Content-Type") == "" {
			return encode(fail(http.StatusBadRequest, "mime: no media type"))
		}
		return encode(unsupported)
	default:
		return encode(unsupported)
	}
	if raw, _ := io.ReadAll(r.Body); len(strings.TrimSpace(string(raw))) > 0 {
		d := json.NewDecoder(strings.NewReader(string(raw)))
		d.UseNumber()
		if err := d.Decode(&req.body); err != nil {
			return encode(fail(http.StatusBadRequest, "error parsing JSON"))
		}
	}
	if req.body == nil {
		req.body = map[string]any{}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	return encode(f.answer(req))
}

func encode(a answer) (int, []byte) {
	if a.body == nil {
		return a.status, nil
	}
	b, err := json.Marshal(a.body)
	if err != nil {
		return http.StatusInternalServerError, []byte(`{"errors":["vaultfake: ` + err.Error() + `"]}`)
	}
	return a.status, b
}

// answer answers a decoded request; the caller holds f.mu.
func (f *Fake) answer(req *request) answer {
	if h := f.unauthenticated(req); h != nil {
		return *h
	}
	if f.sealed || !f.initialized {
		return sealedAnswer
	}
	tok := f.lookupToken(req.token)
	if tok == nil {
		return denied
	}
	req.tok = tok
	if !f.allowed(tok, req) {
		return fail(http.StatusForbidden, multi("permission denied"))
	}
	return f.route(req)
}

// route sends an authenticated request to the handler of its path.
func (f *Fake) route(req *request) answer {
	p := req.path
	switch {
	case p == "sys/policies/acl" || strings.HasPrefix(p, "sys/policies/acl/"):
		return f.servePolicy(req, strings.TrimPrefix(strings.TrimPrefix(p, "sys/policies/acl"), "/"))
	case p == "sys/policy" || strings.HasPrefix(p, "sys/policy/"):
		return f.serveOldPolicy(req, strings.TrimPrefix(strings.TrimPrefix(p, "sys/policy"), "/"))
	case p == "sys/mounts" || strings.HasPrefix(p, "sys/mounts/"):
		return f.serveMounts(req, strings.TrimPrefix(strings.TrimPrefix(p, "sys/mounts"), "/"))
	case p == "sys/auth" || strings.HasPrefix(p, "sys/auth/"):
		return f.serveAuths(req, strings.TrimPrefix(strings.TrimPrefix(p, "sys/auth"), "/"))
	case p == "sys/capabilities" || p == "sys/capabilities-self":
		return f.serveCapabilities(req)
	case strings.HasPrefix(p, "sys/leases/") || p == "sys/revoke" || strings.HasPrefix(p, "sys/revoke/") || strings.HasPrefix(p, "sys/revoke-prefix/"):
		return f.serveLeases(req)
	case p == "sys/seal":
		return f.serveSeal(req)
	case p == "sys" || strings.HasPrefix(p, "sys/"):
		return unsupportedPath
	case strings.HasPrefix(p, "auth/token/"):
		return f.serveTokenAuth(req, strings.TrimPrefix(p, "auth/token/"))
	}
	return f.serveLogical(req)
}
