package nomadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// codedError is an HTTP error with Nomad's status code and plain-text body.
type codedError struct {
	code int
	msg  string
}

func (e *codedError) Error() string { return e.msg }

func coded(code int, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

// Nomad answers RPC errors (validation, enforce-index conflicts, ...) with HTTP 500
// and the error text; only the HTTP layer's own checks are 400s.
func rpcError(err error) error {
	return &codedError{code: http.StatusInternalServerError, msg: err.Error()}
}

var errInvalidMethod = coded(http.StatusMethodNotAllowed, "Invalid method")

// handlerFunc returns the value to encode as JSON, or an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

func (s *Server) router() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h handlerFunc) { mux.HandleFunc(pattern, s.wrap(h)) }
	handle("/v1/jobs", s.jobsRequest)
	handle("/v1/job/", s.jobSpecificRequest)
	handle("/v1/validate/job", s.validateJobRequest)
	handle("/v1/allocations", s.allocationsRequest)
	handle("/v1/allocation/", s.allocationRequest)
	handle("/v1/evaluations", s.evaluationsRequest)
	handle("/v1/evaluation/", s.evaluationRequest)
	handle("/v1/deployments", s.deploymentsRequest)
	handle("/v1/deployment/", s.deploymentRequest)
	handle("/v1/agent/self", s.agentSelf)
	handle("/v1/agent/health", s.agentHealth)
	handle("/v1/agent/members", s.agentMembers)
	handle("/v1/agent/join", s.agentJoin)
	handle("/v1/agent/force-leave", s.agentForceLeave)
	handle("/v1/agent/schedulers", s.agentSchedulers)
	handle("/v1/agent/schedulers/config", s.agentSchedulersConfig)
	mux.HandleFunc("/v1/agent/monitor", s.agentMonitor)
	mux.HandleFunc("/v1/client/allocation/", s.clientAllocationRequest)
	mux.HandleFunc("/v1/event/stream", s.eventStream)
	handle("/v1/metrics", s.agentMetrics)
	handle("/v1/operator/scheduler/configuration", s.operatorSchedulerConfig)
	handle("/v1/status/leader", s.statusLeader)
	handle("/v1/status/peers", s.statusPeers)
	handle("/v1/regions", s.regions)
	handle("/v1/nodes", s.nodesRequest)
	handle("/v1/node/", s.nodeRequest)
	handle("/v1/client/stats", s.clientStats)
	handle("/v1/namespaces", s.namespacesRequest)
	handle("/v1/namespace/", s.namespaceRequest)
	handle(jwksPath, s.jwksRequest)
	handle(oidcDiscoveryPath, s.oidcDiscoveryRequest)
	handle("/v1/namespace", s.namespaceRequest)
	return cleanPaths(mux)
}

// cleanPaths redirects a request for an unclean path (a "//", "." or ".." segment)
// with 301 Moved Permanently, as the Go 1.20 ServeMux of Nomad 1.6 did; newer muxes
// answer 307, which keeps a PUT a PUT. Clients follow a 301 with a GET.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := cleanPath(r.URL.Path); p != r.URL.Path {
			u := *r.URL
			u.Path, u.RawPath = p, ""
			http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is net/http's: path.Clean, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// wrap does what Nomad's HTTP wrapper does around every endpoint: region forwarding
// (only the agent's region exists), blocking queries, the X-Nomad-* headers, JSON
// encoding, and plain-text errors with their status code.
func (s *Server) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Nomad's HTTP server logs each request at DEBUG (seen through the monitor);
		// the path only, so that no query parameter reaches the log.
		start := time.Now()
		defer func() {
			s.agentLog("DEBUG", "http: request complete: method=%s path=%s duration=%s", r.Method, r.URL.Path, time.Since(start))
		}()
		if region := r.URL.Query().Get("region"); region != "" && region != s.cfg.Region && region != "global" {
			writeError(w, rpcError(errors.New("No path to region")))
			return
		}
		// No read filters with ?filter= here: refuse it rather than answer unfiltered.
		if r.Method == http.MethodGet {
			if err := refuseFilter(r); err != nil {
				writeError(w, err)
				return
			}
		}
		minIndex, wait, err := blockingParams(r)
		if err != nil {
			writeError(w, err)
			return
		}
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		var out any
		var index uint64
		var ans *answer
		for {
			s.mu.Lock()
			ch := s.changed
			s.mu.Unlock()
			var req *http.Request
			req, ans = withAnswer(r)
			out, err = h(w, req)
			if err != nil {
				writeError(w, err)
				return
			}
			index = s.answerIndexOf(ans, out)
			if minIndex == 0 || index > minIndex {
				break
			}
			// A blocking query: run again after the next write, until ?wait= ends.
			s.blocking.Add(1)
			select {
			case <-ch:
				s.blocking.Add(-1)
				continue
			case <-deadline.C:
			case <-r.Context().Done():
				s.blocking.Add(-1)
				writeError(w, r.Context().Err())
				return
			case <-s.ctx.Done():
			}
			s.blocking.Add(-1)
			break
		}
		s.mu.Lock()
		body, merr := json.Marshal(out)
		s.mu.Unlock()
		if merr != nil {
			writeError(w, rpcError(merr))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Nomad-Index", strconv.FormatUint(index, 10))
		if ans.nextToken != "" {
			w.Header().Set("X-Nomad-NextToken", ans.nextToken)
		}
		if r.Method == http.MethodGet {
			w.Header().Set("X-Nomad-KnownLeader", "true")
			w.Header().Set("X-Nomad-LastContact", "0")
		}
		_, _ = w.Write(body)
	}
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var ce *codedError
	if errors.As(err, &ce) {
		code = ce.code
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, err.Error())
}

// answerIndexOf is the X-Nomad-Index of an answer: the one its handler set, else the
// one its body carries, else the Raft index.
func (s *Server) answerIndexOf(a *answer, out any) uint64 {
	if a.set {
		return a.index
	}
	if v, ok := out.(indexed); ok && v.answerIndex() != 0 {
		return v.answerIndex()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// blockingParams reads a GET's ?index= and ?wait= (default 5m, at most 10m): the
// answer waits until its index passes ?index=, or the wait elapses. Writes do not block.
func blockingParams(r *http.Request) (uint64, time.Duration, error) {
	q := r.URL.Query()
	raw := q.Get("index")
	if raw == "" || r.Method != http.MethodGet {
		return 0, 0, nil
	}
	minIndex, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, 0, coded(http.StatusBadRequest, "Invalid index")
	}
	wait := 5 * time.Minute
	if w := q.Get("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			return 0, 0, coded(http.StatusBadRequest, "Invalid wait time")
		}
		wait = min(d, 10*time.Minute)
	}
	return minIndex, wait, nil
}

// decodeStrict decodes a request body into out, refusing unknown fields and trailing
// data, which the double is stricter about than Nomad.
func decodeStrict(r *http.Request, out any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return coded(http.StatusBadRequest, "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return coded(http.StatusBadRequest, "%v", err)
	}
	if dec.More() {
		return coded(http.StatusBadRequest, "invalid character after the JSON body")
	}
	return nil
}

// requestNamespace is the ?namespace= of a request, "default" when absent.
func requestNamespace(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	return "default"
}

// pathParts splits the escaped path after prefix into unescaped segments, so that job
// IDs containing an escaped "/" survive.
func pathParts(r *http.Request, prefix string) []string {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), prefix)
	if rest == "" {
		return nil
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}

// queryMeta is Nomad's QueryMeta as its JSON responses embed it.
type queryMeta struct {
	Index       uint64
	LastContact time.Duration
	KnownLeader bool
	NextToken   string
}
