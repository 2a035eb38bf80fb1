package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// maxBody bounds what a response may make us hold in memory.
const maxBody = 10 << 20

// builtin is http.get/post/put/delete(url, [body,] headers={}, expect=200, contains=None,
// timeout="10s", retry=None, read_only=None). It returns struct(status, headers, body,
// json), where json() decodes the body.
//
// Each request is a runtime.Query, which decides what is sent when:
//   - apply sends every request (Settle: retrying if retry= is set);
//   - a live plan sends only read-only requests (GET by default, or read_only=True:
//     those declare a Read), once, without retrying: a plan must not wait on what only
//     the apply would bring up. If that one attempt fails, the read answers "not yet":
//     the plan warns and records the answer as known after apply, rather than failing,
//     since the apply may be what fixes it;
//   - a request whose URL, headers or body are known only after apply is never sent
//     by a plan, and its answer is Unknown;
//   - an offline plan sends nothing.
//
// A read's fingerprint is a hash of its status and body.
func (m *httpModule) builtin(method string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		req, err := m.parseRequest(fn, method, args, kwargs)
		if err != nil {
			return nil, err
		}
		action := runtime.Call
		if method == http.MethodGet {
			action = runtime.Read
		}
		address := fmt.Sprintf("http %s %s", method, req.shownURL)
		q := runtime.Query{
			Address: address,
			Action:  action,
			Record:  true,
			Summary: req.summary(),
			Diff:    req.diff(),
			Unknown: req.unknown,
			// What an apply sends: every request, retrying if retry= is set.
			Settle: func(ctx context.Context) (starlark.Value, error) {
				if req.retry > 0 {
					return m.retry(thread, req)
				}
				return m.attempt(ctx, req)
			},
		}
		if req.readOnly {
			// What a plan may send: a read-only request, once.
			q.Read = func(ctx context.Context) (runtime.Answer, error) {
				res, err := m.attempt(ctx, req)
				if runtime.IsTLSError(err) {
					// The server answered, with a certificate nvrun does not trust: the apply
					// would not fix that, so the plan fails rather than warning.
					return runtime.Answer{}, fmt.Errorf("%s: %w", address, err)
				}
				if err != nil {
					// The apply may be what fixes it: warn, and check again at apply.
					msg := m.run.Redactor().Redact(err.Error())
					return runtime.Answer{}, &runtime.NotYetError{Err: err,
						Note:    "not as expected when planned: " + msg,
						Warning: fmt.Sprintf("%s: %s: %s (the apply checks again)", runtime.CallerPos(thread), address, msg)}
				}
				return runtime.Answer{Value: res, Fingerprint: fingerprint(res)}, nil
			}
		}
		return m.run.Query(thread, q)
	}
}

// fingerprint is a hash of the normalised answer: its status and body (headers such as
// Date differ between two answers that say the same thing).
func fingerprint(res starlark.Value) runtime.Fingerprint {
	answer := map[string]string{}
	if s, ok := res.(starlark.HasAttrs); ok {
		for _, k := range []string{"status", "body"} {
			if v, err := s.Attr(k); err == nil && v != nil {
				answer[k] = v.String()
			}
		}
	}
	return runtime.HashFingerprint(answer)
}

// attempt sends the request once and checks the answer against expect and contains.
func (m *httpModule) attempt(ctx context.Context, req *request) (starlark.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, bytes.NewReader(req.body))
	if err != nil {
		return nil, err
	}
	if !req.hasBody {
		hr.Body, hr.ContentLength = http.NoBody, 0
	}
	for _, h := range req.headers {
		if strings.EqualFold(h.name, "Host") {
			hr.Host = h.value
			continue
		}
		hr.Header.Set(h.name, h.value)
	}
	resp, err := m.httpClient().Do(hr)
	if err != nil {
		// url.Error repeats the method and URL, which the record's address already shows.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, fmt.Errorf("no answer within %s (timeout=)", req.timeout)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("status %d, then reading the body: %w", resp.StatusCode, err)
	}
	if len(req.expect) > 0 && !slices.Contains(req.expect, resp.StatusCode) {
		want := fmt.Sprint(req.expect[0])
		if len(req.expect) > 1 {
			want = fmt.Sprintf("one of %v", req.expect)
		}
		return nil, fmt.Errorf("status %s, want %s; body: %s", resp.Status, want, m.excerpt(body))
	}
	var missing []string
	for _, s := range req.contains {
		if !bytes.Contains(body, []byte(s)) {
			missing = append(missing, fmt.Sprintf("%q", s))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("status %d, but the body lacks %s; body: %s", resp.StatusCode, strings.Join(missing, ", "), m.excerpt(body))
	}
	return response(resp, body), nil
}

// excerpt is the start of a body for an error message: secrets scrubbed, on one line.
func (m *httpModule) excerpt(body []byte) string {
	if len(body) == 0 {
		return "(empty)"
	}
	s := m.run.Redactor().Redact(string(body))
	s = strings.Join(strings.Fields(s), " ")
	const max = 160
	if r := []rune(s); len(r) > max {
		return fmt.Sprintf("%q… (%d bytes)", string(r[:max]), len(body))
	}
	return fmt.Sprintf("%q", s)
}
