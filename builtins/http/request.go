package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// request is a checked request: what to send and what to expect back.
type request struct {
	method    string
	url       string
	shownURL  string // for the record's address: quoted, password hidden, or (sensitive)
	headers   []header
	body      []byte
	hasBody   bool
	bodyShown string
	expect    []int // nil: any status will do
	contains  []string
	timeout   time.Duration // per attempt
	retry     time.Duration // 0: one attempt
	readOnly  bool
	// unknown is the text of a value known only after apply that the request depends
	// on; such a request cannot be sent in a plan.
	unknown string
}

type header struct {
	name, value string
	sensitive   bool
}

// unknownMarker is how an Unknown reads once str() or % formatting made it part of a
// string, e.g. "http://%s/names" % srv.host.
const unknownMarker = "(known after apply:"

// parseRequest checks the arguments of http.get (no body) or http.post/put/delete.
func (m *httpModule) parseRequest(fn *starlark.Builtin, method string, args starlark.Tuple, kwargs []starlark.Tuple) (*request, error) {
	var urlV starlark.Value
	var bodyV, headersV, containsV, retryV, readOnlyV starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	var expectV starlark.Value = starlark.MakeInt(http.StatusOK)
	var timeoutV starlark.Value = starlark.String("10s")
	params := []any{"url", &urlV}
	if method != http.MethodGet {
		params = append(params, "body?", &bodyV)
	}
	params = append(params, "headers?", &headersV, "expect?", &expectV, "contains?", &containsV,
		"timeout?", &timeoutV, "retry?", &retryV, "read_only?", &readOnlyV)
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, params...); err != nil {
		return nil, err
	}
	r := &request{method: method, readOnly: method == http.MethodGet}
	var err error
	if err = r.setURL(urlV); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if err = m.setHeaders(r, headersV); err != nil {
		return nil, fmt.Errorf("%s: headers: %w", fn.Name(), err)
	}
	if err = r.setBody(bodyV); err != nil {
		return nil, fmt.Errorf("%s: body: %w", fn.Name(), err)
	}
	if r.expect, err = statusList(expectV); err != nil {
		return nil, fmt.Errorf("%s: expect: %w", fn.Name(), err)
	}
	if containsV != starlark.None {
		if s, ok := starlark.AsString(containsV); ok {
			r.contains = []string{s}
		} else if r.contains, err = runtime.StringList(containsV); err != nil {
			return nil, fmt.Errorf("%s: contains: want a string or a list of strings: %w", fn.Name(), err)
		}
	}
	var timeout, retry runtime.DurationArg
	if err = timeout.Unpack(timeoutV); err != nil || timeout <= 0 {
		return nil, fmt.Errorf("%s: timeout: want a positive duration such as \"10s\" (%v)", fn.Name(), err)
	}
	if retryV != starlark.None {
		if err = runtime.UnpackArg(fn.Name(), "retry", retryV, &retry); err != nil {
			return nil, err
		}
	}
	r.timeout, r.retry = timeout.D(), retry.D()
	if readOnlyV != starlark.None {
		b, ok := readOnlyV.(starlark.Bool)
		if !ok {
			return nil, fmt.Errorf("%s: read_only must be True or False, not %s", fn.Name(), readOnlyV.Type())
		}
		r.readOnly = bool(b)
	}
	return r, nil
}

func (r *request) setURL(v starlark.Value) error {
	if runtime.IsUnknown(v) {
		r.unknown, r.shownURL = v.String(), v.String()
		return nil
	}
	s, sensitive, ok := runtime.StringOrSecret(v)
	if !ok {
		return fmt.Errorf("url must be a string, not %s", v.Type())
	}
	if strings.Contains(s, unknownMarker) {
		r.unknown, r.shownURL = s, fmt.Sprintf("%q", s)
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if sensitive {
			return fmt.Errorf("url (sensitive) is not an http:// or https:// URL")
		}
		return fmt.Errorf("url %q is not an http:// or https:// URL", s)
	}
	r.url = s
	r.shownURL = fmt.Sprintf("%q", u.Redacted())
	if sensitive {
		r.shownURL = runtime.Redacted
	}
	return nil
}

func (m *httpModule) setHeaders(r *request, v starlark.Value) error {
	if v == starlark.None {
		return nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("want a dict of strings, not %s", v.Type())
	}
	for _, kv := range d.Items() {
		name, ok := starlark.AsString(kv[0])
		if !ok || name == "" {
			return fmt.Errorf("header names must be strings, not %s", kv[0].Type())
		}
		if runtime.IsUnknown(kv[1]) {
			if r.unknown == "" {
				r.unknown = kv[1].String()
			}
			r.headers = append(r.headers, header{name: name, value: kv[1].String()})
			continue
		}
		val, sensitive, ok := runtime.StringOrSecret(kv[1])
		if !ok {
			return fmt.Errorf("header %s: want a string or a secret, not %s", name, kv[1].Type())
		}
		if sensitive {
			// "Bearer " + token is a new secret the redactor has not seen whole.
			m.run.Redactor().Add(val)
		}
		r.headers = append(r.headers, header{name: name, value: val, sensitive: sensitive})
	}
	return nil
}

func (r *request) hasHeader(name string) bool {
	for _, h := range r.headers {
		if strings.EqualFold(h.name, name) {
			return true
		}
	}
	return false
}

func (r *request) setBody(v starlark.Value) error {
	if v == starlark.None {
		return nil
	}
	r.hasBody = true
	if runtime.IsUnknown(v) {
		if r.unknown == "" {
			r.unknown = v.String()
		}
		r.bodyShown = shorten(shownJSON(v))
		return nil
	}
	if s, sensitive, ok := runtime.StringOrSecret(v); ok {
		r.body = []byte(s)
		r.bodyShown = fmt.Sprintf("%q", shorten(s))
		if sensitive {
			r.bodyShown = runtime.Redacted
		}
		return nil
	}
	switch v.(type) {
	case *starlark.Dict, *starlark.List, starlark.Tuple:
	default:
		return fmt.Errorf("want a string, a secret, or a dict or list (sent as JSON), not %s", v.Type())
	}
	data, err := runtime.ToGo(v)
	if err != nil {
		return err
	}
	if r.body, err = json.Marshal(data); err != nil {
		return err
	}
	if !r.hasHeader("Content-Type") {
		r.headers = append(r.headers, header{name: "Content-Type", value: "application/json"})
	}
	r.bodyShown = shorten(shownJSON(v))
	return nil
}

// shownJSON is a body as the plan shows it: JSON, with each secret as (sensitive) and
// each unknown as where it comes from.
func shownJSON(v starlark.Value) string {
	var conv func(v starlark.Value) any
	conv = func(v starlark.Value) any {
		switch v := v.(type) {
		case *runtime.Secret:
			return runtime.Redacted
		case *runtime.Unknown:
			return v.String()
		case *starlark.List:
			out := make([]any, v.Len())
			for i := range out {
				out[i] = conv(v.Index(i))
			}
			return out
		case starlark.Tuple:
			out := make([]any, len(v))
			for i, e := range v {
				out[i] = conv(e)
			}
			return out
		case *starlark.Dict:
			out := map[string]any{}
			for _, kv := range v.Items() {
				k, _ := starlark.AsString(kv[0])
				out[k] = conv(kv[1])
			}
			return out
		}
		g, err := runtime.ToGo(v)
		if err != nil {
			return v.String()
		}
		return g
	}
	b, _ := json.Marshal(conv(v))
	return string(b)
}

func statusList(v starlark.Value) ([]int, error) {
	if v == starlark.None {
		return nil, nil
	}
	var vals []starlark.Value
	switch v := v.(type) {
	case starlark.Int:
		vals = []starlark.Value{v}
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			vals = append(vals, v.Index(i))
		}
	case starlark.Tuple:
		vals = v
	default:
		return nil, fmt.Errorf("want a status code, a list of them, or None (any status), not %s", v.Type())
	}
	out := make([]int, 0, len(vals))
	for _, e := range vals {
		var code int
		if err := starlark.AsInt(e, &code); err != nil || code < 100 || code > 999 {
			return nil, fmt.Errorf("%s is not an HTTP status code", e)
		}
		out = append(out, code)
	}
	return out, nil
}

// summary is the record's one-line description of what the request checks.
func (r *request) summary() string {
	var parts []string
	switch len(r.expect) {
	case 0:
		parts = append(parts, "any status")
	case 1:
		parts = append(parts, fmt.Sprintf("expect %d", r.expect[0]))
	default:
		parts = append(parts, fmt.Sprintf("expect one of %v", r.expect))
	}
	switch len(r.contains) {
	case 0:
	case 1:
		parts = append(parts, fmt.Sprintf("contains %q", shorten(r.contains[0])))
	default:
		parts = append(parts, fmt.Sprintf("contains %d strings", len(r.contains)))
	}
	if r.retry > 0 {
		parts = append(parts, "retry "+runtime.ShortDuration(r.retry))
	}
	if r.readOnly && r.method != http.MethodGet {
		parts = append(parts, "read-only")
	}
	return strings.Join(parts, ", ")
}

// diff shows the headers and body the request would send, secrets as (sensitive).
func (r *request) diff() []runtime.DiffLine {
	var out []runtime.DiffLine
	for _, h := range r.headers {
		v := fmt.Sprintf("%q", shorten(h.value))
		if h.sensitive {
			v = runtime.Redacted
		}
		out = append(out, runtime.DiffLine{Op: "+", Key: "header " + h.name, After: v})
	}
	if r.hasBody {
		out = append(out, runtime.DiffLine{Op: "+", Key: "body", After: r.bodyShown})
	}
	return out
}

// shorten keeps plan lines readable.
func shorten(s string) string {
	const max = 120
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
