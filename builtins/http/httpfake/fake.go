// Package httpfake is `nvrun test`'s web: the answers a test describes per URL, for the
// http builtin (state.http(answers={...})).
//
//	state.http(answers = {
//	    "http://10.0.0.5:8080/names": {"status": 200, "body": "John Doe", "headers": {"Content-Type": "text/plain"}},
//	    "POST https://hooks.example/deploy": 204,
//	    "http://*/health": "ok",
//	    "http://flaky/": [503, 503, {"status": 200, "body": "up"}],
//	})
//
// A key is a URL, optionally after a method ("POST https://..."; without one, any
// method). It matches a request's URL exactly; a key without a query also matches the
// URL with any query. A key with * or [...] is a pattern, matched as path.Match does
// (a * does not cross a "/", so "http://*/health" is any host's /health; a "?" is the
// query's, not a wildcard). An exact key wins over patterns; patterns are tried in the
// order given.
//
// An answer is a dict (status, default 200; body, default ""; headers), a bare status
// (an int), or a bare body (a string, status 200). A list of answers is given in turn,
// one per request, the last one again and again: what a retry sees.
//
// A request no key matches is an error that names the method and URL and lists the
// described keys: a test should say what every request of the script gets, and a made-up
// answer (or "server down") would hide that it does not. A plan reports it as it reports
// any GET that fails when planned (a warning naming the request, the read known after
// apply); an apply fails with it. Use the Fake as the http
// module's transport (http.Options{WrapTransport: func(http.RoundTripper)
// http.RoundTripper { return f }}), so that error is the request's; served as an
// http.Handler instead, such a request is answered 404 with the same text.
package httpfake

import (
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime/fakenet"
)

// Answer is what a request gets.
type Answer struct {
	Status  int
	Body    string
	Headers map[string]string
}

// Fake answers described URLs; safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	rules   []*rule
	served  []string // "GET http://...", in order
	handler http.Handler
}

type rule struct {
	key     string // as given, for messages
	method  string // "" for any
	url     string
	pattern bool
	answers []Answer
	next    int
}

// New is a fake with no answers.
func New() *Fake { return &Fake{} }

// Add describes the answers for key ("[METHOD ]URL", see the package doc), in turn.
func (f *Fake) Add(key string, answers ...Answer) error {
	if len(answers) == 0 {
		return fmt.Errorf("%q: no answer", key)
	}
	r := &rule{key: key, answers: answers}
	r.url = key
	if m, rest, ok := strings.Cut(key, " "); ok && m == strings.ToUpper(m) && !strings.Contains(m, "/") {
		r.method, r.url = m, strings.TrimSpace(rest)
	}
	if !strings.Contains(r.url, "://") {
		return fmt.Errorf("%q: want an absolute URL such as \"http://host:port/path\"", key)
	}
	if strings.ContainsAny(r.url, "*[") {
		// A "?" begins the query, as in any URL: it is not a wildcard here.
		r.url = strings.ReplaceAll(r.url, "?", `\?`)
		if _, err := path.Match(r.url, ""); err != nil {
			return fmt.Errorf("%q: bad pattern: %w", key, err)
		}
		r.pattern = true
	}
	for _, a := range answers {
		if a.Status < 100 || a.Status > 599 {
			return fmt.Errorf("%q: status %d is not an HTTP status", key, a.Status)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, r)
	return nil
}

// find picks the rule for a request and takes its next answer; callers hold f.mu.
func (f *Fake) find(method, url string) (Answer, bool) {
	noQuery, _, _ := strings.Cut(url, "?")
	matches := func(r *rule, pattern bool) bool {
		if r.pattern != pattern || (r.method != "" && r.method != method) {
			return false
		}
		target := url
		if !strings.Contains(r.url, "?") { // a key without a query: any query
			target = noQuery
		}
		if !pattern {
			return r.url == target
		}
		ok, _ := path.Match(r.url, target)
		return ok
	}
	for _, pattern := range []bool{false, true} {
		for _, r := range f.rules {
			if matches(r, pattern) {
				a := r.answers[min(r.next, len(r.answers)-1)]
				r.next++
				return a, true
			}
		}
	}
	return Answer{}, false
}

func (f *Fake) noAnswer(method, url string) string {
	keys := make([]string, len(f.rules))
	for i, r := range f.rules {
		keys[i] = fmt.Sprintf("%q", r.key)
	}
	sort.Strings(keys)
	described := "none"
	if len(keys) > 0 {
		described = strings.Join(keys, ", ")
	}
	return fmt.Sprintf("the test describes no answer for %s %s (state.http answers: %s)", method, url, described)
}

// ServeHTTP gives the described answer, or 404 naming the request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	url := requestURL(r)
	f.mu.Lock()
	a, ok := f.find(r.Method, url)
	f.served = append(f.served, r.Method+" "+url)
	msg := ""
	if !ok {
		msg = f.noAnswer(r.Method, url)
	}
	f.mu.Unlock()
	if !ok {
		http.Error(w, msg, http.StatusNotFound)
		return
	}
	for k, v := range a.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write([]byte(a.Body))
}

// RoundTrip answers as the web would: the described answer, or an error naming the
// request when the test describes none.
func (f *Fake) RoundTrip(req *http.Request) (*http.Response, error) {
	url := req.URL.String()
	f.mu.Lock()
	_, ok := f.lookupOnly(req.Method, url)
	msg := ""
	if !ok {
		msg = f.noAnswer(req.Method, url)
		f.served = append(f.served, req.Method+" "+url)
	}
	f.mu.Unlock()
	if !ok {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return fakenet.Transport(f).RoundTrip(req)
}

// lookupOnly says whether a rule matches, without taking an answer.
func (f *Fake) lookupOnly(method, url string) (Answer, bool) {
	saved := make([]int, len(f.rules))
	for i, r := range f.rules {
		saved[i] = r.next
	}
	a, ok := f.find(method, url)
	for i, r := range f.rules {
		r.next = saved[i]
	}
	return a, ok
}

// Requests lists the requests made, "METHOD URL", in order.
func (f *Fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.served...)
}

func requestURL(r *http.Request) string {
	u := *r.URL
	if u.Host == "" {
		u.Host = r.Host
	}
	if u.Scheme == "" {
		u.Scheme = "http"
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	return u.String()
}

// answerKeys are the fields of an answer dict.
var answerKeys = []string{"status", "body", "headers"}

// FromStarlark builds a fake from state.http(answers={key: answer}); see the package doc.
func FromStarlark(kwargs []starlark.Tuple) (*Fake, error) {
	const where = "state.http"
	args, err := fakenet.StateArgs(where, nil, kwargs, "answers")
	if err != nil {
		return nil, err
	}
	f := New()
	v, ok := args["answers"]
	if !ok {
		return f, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fakenet.WrongType(where, "answers", "a dict of URL to answer", v)
	}
	for _, it := range d.Items() {
		key, ok := starlark.AsString(it[0])
		if !ok {
			return nil, fakenet.WrongType(where, "answers key", "a URL string", it[0])
		}
		at := fmt.Sprintf("%s: answers[%q]", where, key)
		var answers []Answer
		if l, isList := it[1].(*starlark.List); isList {
			if l.Len() == 0 {
				return nil, fmt.Errorf("%s: an empty list of answers", at)
			}
			for i := 0; i < l.Len(); i++ {
				a, err := answerOf(fmt.Sprintf("%s[%d]", at, i), l.Index(i))
				if err != nil {
					return nil, err
				}
				answers = append(answers, a)
			}
		} else {
			a, err := answerOf(at, it[1])
			if err != nil {
				return nil, err
			}
			answers = append(answers, a)
		}
		if err := f.Add(key, answers...); err != nil {
			return nil, fmt.Errorf("%s: answers: %w", where, err)
		}
	}
	return f, nil
}

func answerOf(at string, v starlark.Value) (Answer, error) {
	a := Answer{Status: http.StatusOK}
	switch x := v.(type) {
	case starlark.String:
		a.Body = string(x)
		return a, nil
	case starlark.Int:
		if err := starlark.AsInt(x, &a.Status); err != nil {
			return a, fmt.Errorf("%s: %w", at, err)
		}
		return a, nil
	case *starlark.Dict:
		for _, it := range x.Items() {
			k, _ := starlark.AsString(it[0])
			switch k {
			case "status":
				if err := starlark.AsInt(it[1], &a.Status); err != nil {
					return a, fakenet.WrongType(at, "status", "an int", it[1])
				}
			case "body":
				s, ok := starlark.AsString(it[1])
				if !ok {
					return a, fakenet.WrongType(at, "body", "a string", it[1])
				}
				a.Body = s
			case "headers":
				hd, ok := it[1].(*starlark.Dict)
				if !ok {
					return a, fakenet.WrongType(at, "headers", "a dict of strings", it[1])
				}
				a.Headers = map[string]string{}
				for _, h := range hd.Items() {
					hk, ok1 := starlark.AsString(h[0])
					hv, ok2 := starlark.AsString(h[1])
					if !ok1 || !ok2 {
						return a, fakenet.WrongType(at, "headers", "a dict of strings", it[1])
					}
					a.Headers[hk] = hv
				}
			default:
				return a, fakenet.UnknownKey(at, "field", k, answerKeys)
			}
		}
		return a, nil
	}
	return a, fmt.Errorf("%s: want an answer dict {\"status\": ..., \"body\": ..., \"headers\": ...}, a status (int) or a body (string), not %s", at, v.Type())
}
