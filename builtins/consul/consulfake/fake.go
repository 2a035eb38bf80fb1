// Package consulfake is `nvrun test`'s Consul: an in-memory agent (one node, a dev
// agent's single datacenter) that speaks the part of Consul 1.16's HTTP API the consul
// builtin uses, with Consul's status codes and JSON shapes, and answers consul.srv's
// DNS questions through consul.Options.Resolve. Its conformance test runs one table of
// requests against it and against the real Consul 1.16.0.
//
// Served:
//
//	GET  /v1/agent/self                   Config (Datacenter, NodeName, Version), DebugConfig (DNS port, domain)
//	GET  /v1/status/leader
//	GET  /v1/agent/services, /v1/agent/checks
//	PUT  /v1/agent/service/register       (?replace-existing-checks)
//	PUT  /v1/agent/service/deregister/:id
//	GET  /v1/health/service/:name         (?tag=, ?passing)
//	GET  /v1/catalog/services, /v1/catalog/service/:name (?tag=)
//	GET PUT DELETE /v1/kv/:key            (?cas=, ?flags=, ?recurse, ?keys on GET)
//
// Knowingly different from Consul: the agent runs no check, so a tcp, http, grpc or
// script check is passing as soon as it is registered (Consul dials it, and reports
// critical until it answers), and a ttl check is critical until given a status (as in
// Consul); blocking queries (?index=) answer at once; sessions, KV locks (?acquire,
// ?release), ACLs, namespaces, prepared queries and ?filter= are not served (an answer
// says so, with 400).
package consulfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Version is the Consul release the fake answers as.
const Version = "1.16.0"

// Options describe a fake's node.
type Options struct {
	// NodeName is the agent's node name ("consulfake").
	NodeName string
	// Datacenter is its datacenter ("dc1").
	Datacenter string
	// Address is the node's address (127.0.0.1).
	Address string
}

// Fake is an in-memory Consul agent; safe for concurrent use.
type Fake struct {
	node, dc, addr string

	mu       sync.Mutex
	index    uint64
	services map[string]*service // by ID
	checks   map[string]*check   // by CheckID
	kv       map[string]*kvEntry
}

type service struct {
	ID, Name, Address string
	Port              int
	Tags              []string
	Meta              map[string]string
	CreateIndex       uint64
	ModifyIndex       uint64
}

type check struct {
	CheckID, Name, ServiceID, ServiceName string
	Type, Status, Notes, Output           string
	Interval, Timeout                     string
	ServiceTags                           []string
	CreateIndex, ModifyIndex              uint64
}

type kvEntry struct {
	Value                    []byte
	Flags                    uint64
	CreateIndex, ModifyIndex uint64
}

// New is an empty agent.
func New(opts Options) *Fake {
	f := &Fake{node: opts.NodeName, dc: opts.Datacenter, addr: opts.Address,
		index: 10, services: map[string]*service{}, checks: map[string]*check{}, kv: map[string]*kvEntry{}}
	if f.node == "" {
		f.node = "consulfake"
	}
	if f.dc == "" {
		f.dc = "dc1"
	}
	if f.addr == "" {
		f.addr = "127.0.0.1"
	}
	return f
}

// apiError is an answer with Consul's status code and plain-text body.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers as the agent's HTTP API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := f.route(w, r)
	if err != nil {
		code := http.StatusInternalServerError
		var ae *apiError
		if errors.As(err, &ae) {
			code = ae.code
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(err.Error()))
		return
	}
	if out == nil {
		return // the handler wrote its own answer
	}
	if out.index > 0 {
		w.Header().Set("X-Consul-Index", strconv.FormatUint(out.index, 10))
		w.Header().Set("X-Consul-Knownleader", "true")
		w.Header().Set("X-Consul-Lastcontact", "0")
	}
	if out.body == nil {
		// Consul answers a register, or a KV key it does not have, with no body.
		w.WriteHeader(out.code)
		return
	}
	body, err := json.Marshal(out.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(out.code)
	_, _ = w.Write(body)
}

// answer is a JSON answer; index > 0 makes it a read with X-Consul-Index.
type answer struct {
	code  int
	body  any
	index uint64
}

func ok(body any) *answer { return &answer{code: http.StatusOK, body: body} }
func read(body any, index uint64) *answer {
	return &answer{code: http.StatusOK, body: body, index: index}
}

func (f *Fake) route(w http.ResponseWriter, r *http.Request) (*answer, error) {
	p := r.URL.Path
	q := r.URL.Query()
	if q.Has("filter") {
		return nil, errorf(http.StatusBadRequest, "consulfake: ?filter= is not served")
	}
	method := r.Method
	switch {
	case p == "/v1/agent/self":
		return f.onlyGET(method, f.agentSelf)
	case p == "/v1/status/leader":
		return f.onlyGET(method, func() (*answer, error) { return ok(f.addr + ":8300"), nil })
	case p == "/v1/agent/services":
		return f.onlyGET(method, f.agentServices)
	case strings.HasPrefix(p, "/v1/agent/service/register"):
		if method != http.MethodPut {
			return nil, methodNotAllowed(method)
		}
		return f.register(r)
	case strings.HasPrefix(p, "/v1/agent/service/deregister/"):
		if method != http.MethodPut {
			return nil, methodNotAllowed(method)
		}
		return f.deregister(strings.TrimPrefix(p, "/v1/agent/service/deregister/"))
	case p == "/v1/agent/checks":
		return f.onlyGET(method, f.agentChecks)
	case strings.HasPrefix(p, "/v1/health/service/"):
		name := strings.TrimPrefix(p, "/v1/health/service/")
		return f.onlyGET(method, func() (*answer, error) { return f.healthService(name, q["tag"], q.Has("passing")) })
	case p == "/v1/catalog/services":
		return f.onlyGET(method, f.catalogServices)
	case strings.HasPrefix(p, "/v1/catalog/service/"):
		name := strings.TrimPrefix(p, "/v1/catalog/service/")
		return f.onlyGET(method, func() (*answer, error) { return f.catalogService(name, q["tag"]) })
	case p == "/v1/kv" || strings.HasPrefix(p, "/v1/kv/"):
		return f.kvRequest(r, strings.TrimPrefix(strings.TrimPrefix(p, "/v1/kv"), "/"))
	}
	return nil, errorf(http.StatusNotFound, "consulfake: %s %s is not served", method, p)
}

func (f *Fake) onlyGET(method string, h func() (*answer, error)) (*answer, error) {
	if method != http.MethodGet {
		return nil, methodNotAllowed(method)
	}
	return h()
}

func methodNotAllowed(method string) error {
	return errorf(http.StatusMethodNotAllowed, "method %s not allowed", method)
}

// bump advances the index; callers hold f.mu.
func (f *Fake) bump() uint64 {
	f.index++
	return f.index
}

func (f *Fake) agentSelf() (*answer, error) {
	return ok(map[string]any{
		"Config": map[string]any{
			"Datacenter": f.dc, "PrimaryDatacenter": f.dc, "NodeName": f.node,
			"Server": true, "Version": Version, "Revision": "", "BuildDate": "",
		},
		"DebugConfig": map[string]any{
			"DNSAddrs":    []string{"tcp://" + f.addr + ":8600", "udp://" + f.addr + ":8600"},
			"DNSPort":     8600,
			"DNSDomain":   "consul.",
			"ClientAddrs": []string{f.addr},
			"Datacenter":  f.dc,
			"NodeName":    f.node,
		},
		"Member": map[string]any{"Name": f.node, "Addr": f.addr, "Port": 8301, "Status": 1},
		"Meta":   map[string]string{"consul-network-segment": ""},
	}), nil
}
