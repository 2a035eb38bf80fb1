// Package httpreplay records the HTTP requests a client sends (as an
// http.RoundTripper wrapper) and replays them against another server with a plain
// net/http client on one keep-alive connection: the floor nvrun's own cost is measured
// against.
//
// A recording differs from one server to the next only in what that server generated:
// the root token and unseal keys init returned, a lease id, a minted token. Those values
// (found by field name in earlier responses) and the values the caller names (a token
// given through the environment) are replaced by placeholders when the recording is
// built, and filled in again from the replayed responses. Nothing else is changed.
package httpreplay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Exchange is one recorded request and the status it got.
type Exchange struct {
	Method string              `json:"method"`
	Path   string              `json:"path"` // path and query, placeholders allowed
	Header map[string][]string `json:"header,omitempty"`
	Body   string              `json:"body,omitempty"`
	Status int                 `json:"status"`
	// Defines names the per-server values this exchange's response carries, which
	// later requests use: placeholder name -> JSON path in the response ("keys_base64.0").
	Defines map[string]string `json:"defines,omitempty"`
}

// Recording is a replayable request sequence.
type Recording struct {
	Exchanges []Exchange `json:"exchanges"`
	// Substituted counts, per placeholder, how many places of later requests it filled.
	Substituted map[string]int `json:"substituted"`
}

// perServerFields are response fields whose values a fresh server generates anew.
var perServerFields = map[string]bool{
	"root_token": true, "keys": true, "keys_base64": true, "lease_id": true,
	"client_token": true, "accessor": true,
}

// minValue keeps short values (an empty lease id, "1") from being taken for generated ones.
const minValue = 8

const placeholderOpen, placeholderClose = "{{replay:", "}}"

func placeholder(name string) string { return placeholderOpen + name + placeholderClose }

// Recorder wraps an http.RoundTripper and records every exchange through it.
type Recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	raw  []rawExchange
}

type rawExchange struct {
	method, path string
	header       http.Header
	body         []byte
	status       int
	respBody     []byte
}

// Wrap makes r record what base sends (vault.Config.WrapTransport's signature).
func (r *Recorder) Wrap(base http.RoundTripper) http.RoundTripper {
	r.base = base
	return r
}

// Len is the number of exchanges recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.raw)
}

// Requests lists "METHOD /path" of every exchange.
func (r *Recorder) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.raw))
	for i, x := range r.raw {
		out[i] = x.method + " " + x.path
	}
	return out
}

func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	path := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		path += "?" + req.URL.RawQuery
	}
	r.mu.Lock()
	r.raw = append(r.raw, rawExchange{method: req.Method, path: path, header: req.Header.Clone(), body: body, status: resp.StatusCode, respBody: respBody})
	r.mu.Unlock()
	return resp, nil
}

// Recording builds the replayable recording: every per-server value a response carried,
// and every value in external (name -> value), is replaced by a placeholder wherever it
// appears in a later request (path, header or body).
func (r *Recorder) Recording(external map[string]string) (*Recording, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	known := map[string]string{} // value -> placeholder name
	for name, v := range external {
		if len(v) < minValue {
			return nil, fmt.Errorf("external value %s is too short to substitute safely", name)
		}
		known[v] = "env." + name
	}
	rec := &Recording{Substituted: map[string]int{}}
	used := map[string]bool{}
	for i, x := range r.raw {
		values := make([]string, 0, len(known))
		for v := range known {
			values = append(values, v)
		}
		// Longest first, so that a value containing another is replaced whole.
		sort.Slice(values, func(a, b int) bool {
			if len(values[a]) != len(values[b]) {
				return len(values[a]) > len(values[b])
			}
			return values[a] < values[b]
		})
		sub := func(s string) string {
			for _, v := range values {
				if n := strings.Count(s, v); n > 0 {
					s = strings.ReplaceAll(s, v, placeholder(known[v]))
					rec.Substituted[known[v]] += n
					used[known[v]] = true
				}
			}
			return s
		}
		ex := Exchange{Method: x.method, Path: sub(x.path), Body: sub(string(x.body)), Status: x.status}
		for k, vs := range x.header {
			for _, v := range vs {
				if ex.Header == nil {
					ex.Header = map[string][]string{}
				}
				ex.Header[k] = append(ex.Header[k], sub(v))
			}
		}
		if strings.Contains(string(x.body)+x.path, placeholderOpen) {
			return nil, fmt.Errorf("request %d already contains %q", i, placeholderOpen)
		}
		var doc any
		if json.Unmarshal(x.respBody, &doc) == nil {
			for jpath, v := range generated(doc, "", false) {
				if len(v) >= minValue {
					if _, dup := known[v]; !dup {
						name := fmt.Sprintf("x%d.%s", i, jpath)
						known[v] = name
						if ex.Defines == nil {
							ex.Defines = map[string]string{}
						}
						ex.Defines[name] = jpath
					}
				}
			}
		}
		rec.Exchanges = append(rec.Exchanges, ex)
	}
	// Keep only the definitions some later request uses.
	for i := range rec.Exchanges {
		for name := range rec.Exchanges[i].Defines {
			if !used[name] {
				delete(rec.Exchanges[i].Defines, name)
			}
		}
		if len(rec.Exchanges[i].Defines) == 0 {
			rec.Exchanges[i].Defines = nil
		}
	}
	return rec, nil
}

// generated walks a JSON document and returns the string values under per-server
// field names, by JSON path ("auth.client_token", "keys_base64.0").
func generated(doc any, prefix string, under bool) map[string]string {
	out := map[string]string{}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := doc.(type) {
	case map[string]any:
		for k, v := range x {
			for p, s := range generated(v, join(k), perServerFields[k]) {
				out[p] = s
			}
		}
	case []any:
		for i, v := range x {
			for p, s := range generated(v, join(strconv.Itoa(i)), under) {
				out[p] = s
			}
		}
	case string:
		if under {
			out[prefix] = x
		}
	}
	return out
}

// lookup finds a JSON path in a decoded document.
func lookup(doc any, path string) (string, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := doc.(type) {
		case map[string]any:
			doc = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return "", false
			}
			doc = x[i]
		default:
			return "", false
		}
	}
	s, ok := doc.(string)
	return s, ok
}

// Result is what a replay learnt and how it went.
type Result struct {
	// Vars are the per-server values the replay learnt (e.g. "x1.root_token").
	Vars  map[string]string
	Dials int // TCP connections opened: 1 is one keep-alive connection
	Sent  int
}

// Var returns the learnt value whose placeholder name ends in suffix (".root_token").
func (r *Result) Var(suffix string) string {
	for k, v := range r.Vars {
		if strings.HasSuffix(k, suffix) {
			return v
		}
	}
	return ""
}

// Replay sends every exchange of rec, in order, to base ("http://127.0.0.1:8200") with
// a plain net/http client on one keep-alive connection, filling placeholders from
// external and from earlier responses. Each answer must have the recorded status.
func Replay(ctx context.Context, base string, rec *Recording, external map[string]string) (*Result, error) {
	res := &Result{Vars: map[string]string{}}
	var mu sync.Mutex
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			res.Dials++
			mu.Unlock()
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns: 1, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	vars := map[string]string{}
	for k, v := range external {
		vars["env."+k] = v
	}
	var rep *strings.Replacer
	expand := func(s string) (string, error) {
		if !strings.Contains(s, placeholderOpen) {
			return s, nil
		}
		if rep == nil {
			var pairs []string
			for k, v := range vars {
				pairs = append(pairs, placeholder(k), v)
			}
			rep = strings.NewReplacer(pairs...)
		}
		s = rep.Replace(s)
		if i := strings.Index(s, placeholderOpen); i >= 0 {
			end := strings.Index(s[i:], placeholderClose)
			if end < 0 {
				end = len(s) - i
			}
			return "", fmt.Errorf("no value for %s", s[i:i+end+len(placeholderClose)])
		}
		return s, nil
	}

	for i, ex := range rec.Exchanges {
		path, err := expand(ex.Path)
		if err != nil {
			return res, fmt.Errorf("request %d (%s): %w", i, ex.Method, err)
		}
		var body io.Reader
		if ex.Body != "" {
			b, err := expand(ex.Body)
			if err != nil {
				return res, fmt.Errorf("request %d (%s %s): %w", i, ex.Method, path, err)
			}
			body = strings.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, ex.Method, base+path, body)
		if err != nil {
			return res, err
		}
		for k, vs := range ex.Header {
			for _, v := range vs {
				if v, err = expand(v); err != nil {
					return res, fmt.Errorf("request %d (%s %s) header %s: %w", i, ex.Method, path, k, err)
				}
				req.Header.Add(k, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return res, fmt.Errorf("request %d (%s %s): %w", i, ex.Method, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res.Sent++
		if err != nil {
			return res, fmt.Errorf("request %d (%s %s): %w", i, ex.Method, path, err)
		}
		if resp.StatusCode != ex.Status {
			// The answer is not shown: it may carry a token.
			return res, fmt.Errorf("request %d (%s %s): HTTP %d, recorded %d", i, ex.Method, path, resp.StatusCode, ex.Status)
		}
		if len(ex.Defines) > 0 {
			var doc any
			if err := json.Unmarshal(b, &doc); err != nil {
				return res, fmt.Errorf("request %d (%s %s): answer is not JSON", i, ex.Method, path)
			}
			for name, jpath := range ex.Defines {
				v, ok := lookup(doc, jpath)
				if !ok {
					return res, fmt.Errorf("request %d (%s %s): answer has no %s", i, ex.Method, path, jpath)
				}
				vars[name], res.Vars[name] = v, v
			}
			rep = nil
		}
	}
	return res, nil
}
