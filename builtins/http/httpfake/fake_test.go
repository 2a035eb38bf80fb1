package httpfake

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	nvhttp "github.com/nvrun/nvrun/builtins/http"
	"github.com/nvrun/nvrun/internal/fakecheck"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

func kwargs(t *testing.T, src string) []starlark.Tuple {
	t.Helper()
	g, err := starlark.ExecFile(&starlark.Thread{}, "state.star", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kw []starlark.Tuple
	for _, k := range g.Keys() {
		kw = append(kw, starlark.Tuple{starlark.String(k), g[k]})
	}
	return kw
}

const answers = `answers = {
    "http://web:8080/names": {"status": 200, "body": "John Doe", "headers": {"X-From": "exact"}},
    "http://*/names": "any host",
    "POST https://hooks.example/deploy": 204,
    "http://flaky/": [503, {"status": 200, "body": "up"}],
    "http://q.example/search?x=1": "with query",
    "http://q.example/search": "any query",
}`

func TestAnswers(t *testing.T) {
	f, err := FromStarlark(kwargs(t, answers))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: f}
	for _, tc := range []struct {
		method, url string
		status      int
		body        string
	}{
		{"GET", "http://web:8080/names", 200, "John Doe"},        // exact beats the pattern
		{"GET", "http://10.0.0.5:20000/names", 200, "any host"},  // the pattern
		{"GET", "http://web:8080/names?page=2", 200, "John Doe"}, // a key without a query: any query
		{"POST", "https://hooks.example/deploy", 204, ""},
		{"GET", "http://flaky/", 503, ""}, // in turn...
		{"GET", "http://flaky/", 200, "up"},
		{"GET", "http://flaky/", 200, "up"}, // ...the last one again
		{"GET", "http://q.example/search?x=1", 200, "with query"},
		{"GET", "http://q.example/search?x=2", 200, "any query"},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		res, err := c.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.url, err)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || string(b) != tc.body {
			t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.url, res.StatusCode, b, tc.status, tc.body)
		}
		if h := res.Header.Get("X-From"); strings.HasPrefix(tc.url, "http://web:8080/names") != (h == "exact") {
			t.Errorf("%s %s: header X-From %q; want \"exact\" only from the answer that sets it", tc.method, tc.url, h)
		}
	}
	// A described URL, but not for this method; and one not described at all.
	for _, u := range []string{"GET https://hooks.example/deploy", "GET http://other.example/x"} {
		m, url, _ := strings.Cut(u, " ")
		req, _ := http.NewRequest(m, url, nil)
		_, err := c.Do(req)
		if err == nil || !strings.Contains(err.Error(), "describes no answer for "+u) || !strings.Contains(err.Error(), `"http://*/names"`) {
			t.Errorf("%s: err = %v; want one naming the request and the described keys", u, err)
		}
	}
	if got := f.Requests(); len(got) != 11 || got[0] != "GET http://web:8080/names" {
		t.Errorf("requests recorded: %q", got)
	}
}

func TestFromStarlarkErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`answer = {}`, `state.http: unknown key "answer" (did you mean "answers"?)`},
		{`answers = ["http://x/"]`, `state.http: answers: want a dict of URL to answer, not list`},
		{`answers = {"http://x/": {"stauts": 200}}`, `state.http: answers["http://x/"]: unknown field "stauts" (did you mean "status"?)`},
		{`answers = {"http://x/": {"body": 1}}`, `state.http: answers["http://x/"]: body: want a string, not int`},
		{`answers = {"http://x/": 42}`, `"http://x/": status 42 is not an HTTP status`},
		{`answers = {"x/": 200}`, `want an absolute URL`},
		{`answers = {"http://x/": []}`, `an empty list of answers`},
		{`answers = {"http://x/": None}`, `want an answer dict`},
		{`answers = {"http://[x/": 200}`, `bad pattern`},
	} {
		_, err := FromStarlark(kwargs(t, tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// httpScript checks a page and calls a hook, as the guide's last step does.
const httpScript = `
base = var("base")
r = http.get(base + "/names", contains = ["John Doe"])
print("status:", r.status, "body:", r.body)
http.post(base + "/deploy", body = "go", expect = 204)
`

// TestPlanEqualsARealServer: the same script planned against a real HTTP server and
// against the fake describing the same answers prints the same plan and output.
func TestPlanEqualsARealServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /names":
			io.WriteString(w, "John Doe, Mary Jane")
		case "POST /deploy":
			w.WriteHeader(204)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	f, err := FromStarlark(kwargs(t, fmt.Sprintf(`answers = {%q: "John Doe, Mary Jane", "POST %s/deploy": 204}`, srv.URL+"/names", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	script := runtimetest.Script(t, map[string]string{"main.star": httpScript})
	run := func(opts nvhttp.Options) runtimetest.Result {
		return runtimetest.Exec(t, script, runtimetest.ExecOptions{Mode: runtime.Plan, SkipPreflight: true,
			Vars: []string{"base=" + srv.URL}, Modules: []runtime.Module{nvhttp.Module(opts)}, Timeout: time.Minute}).MustOK(t)
	}
	real := run(nvhttp.Options{})
	fake := run(nvhttp.Options{WrapTransport: func(http.RoundTripper) http.RoundTripper { return f }})
	if real.Out+real.Plan != fake.Out+fake.Plan {
		t.Errorf("the plans differ\n%s", fakecheck.LineDiff(fake.Out+fake.Plan, real.Out+real.Plan))
	}
	if !strings.Contains(fake.Out, "status: 200") || !strings.Contains(fake.Plan, "http POST") {
		t.Errorf("plan:\n%s%s", fake.Out, fake.Plan)
	}
	// The plan sent only the GET; the POST waits for apply.
	if got := f.Requests(); len(got) != 1 || !strings.HasPrefix(got[0], "GET ") {
		t.Errorf("the plan sent %q, want only the GET", got)
	}
}

// TestUndescribedURL: a request the test does not describe is not "server down": the
// plan says which request has no answer.
func TestUndescribedURL(t *testing.T) {
	f := New()
	script := runtimetest.Script(t, map[string]string{"main.star": `r = http.get("http://nowhere.example/names")` + "\n"})
	r := runtimetest.Exec(t, script, runtimetest.ExecOptions{Mode: runtime.Plan, SkipPreflight: true,
		Modules: []runtime.Module{nvhttp.Module(nvhttp.Options{WrapTransport: func(http.RoundTripper) http.RoundTripper { return f }})}})
	all := r.All()
	if !strings.Contains(all, "the test describes no answer for GET http://nowhere.example/names") {
		t.Errorf("the run does not name the undescribed request:\n%s", all)
	}
	if len(r.Res.Warnings) != 1 || !strings.Contains(r.Res.Warnings[0], "main.star:1") {
		t.Errorf("warnings %q; want one naming the script line", r.Res.Warnings)
	}
}
