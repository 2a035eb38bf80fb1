package http

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

var sixNames = `["John Doe", "Peter Parker", "Clifford Roosevelt", "Bruce Wayne", "Steven Clark", "Mary Jane"]`

func TestExpectations(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name    string
		src     string
		out     []string // in print output, when the run succeeds
		errWant []string // in the error, when it must fail
	}{
		{"status and all six names", `r = http.get(URL + "/names", contains = ` + sixNames + `)
print(r.status, "Mary Jane" in r.body)`, []string{"200 True"}, nil},
		{"one string", `print(http.get(URL + "/names", contains = "Bruce Wayne").status)`, []string{"200"}, nil},
		{"json and headers", `r = http.get(URL + "/json")
print(r.json()["names"], r.json()["count"], r.json()["ok"], r.headers["content-type"], r.headers["x-multi"])`,
			[]string{`["John Doe", "Mary Jane"] 2 True application/json a, b`}, nil},
		{"any status", `print(http.get(URL + "/fail", expect = None).status)`, []string{"500"}, nil},
		{"one of", `print(http.post(URL + "/things", body = {"a": 1}, expect = [200, 201]).json()["id"])`, []string{"7"}, nil},
		{"wrong status", `http.get(URL + "/fail")`, nil, []string{
			`http GET "` + s.URL + `/fail": status 500 Internal Server Error, want 200; body: "oops: database unreachable"`}},
		{"missing text", `http.get(URL + "/names", contains = ["Mary Jane", "Lex Luthor", "Joker"])`, nil, []string{
			`status 200, but the body lacks "Lex Luthor", "Joker"; body: "<!DOCTYPE html> <h1> Welcome! </h1>`, `(269 bytes)`}},
		{"not json", `http.get(URL + "/names").json()`, nil, []string{"http.response.json: the body (269 bytes) is not JSON"}},
		{"refused", `http.get("http://127.0.0.1:1/x", timeout = "2s")`, nil, []string{`http GET "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused`}},
		{"bad url", `http.get("ftp://x/y")`, nil, []string{`url "ftp://x/y" is not an http:// or https:// URL`}},
		{"bad expect", `http.get(URL, expect = "200")`, nil, []string{"expect: want a status code"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := exec(t, fmt.Sprintf("URL = %q\n%s\n", s.URL, c.src), runtime.Apply, false)
			if c.errWant == nil {
				r.MustOK(t)
				contains(t, "output", r.Out, c.out...)
				return
			}
			if r.Err == nil {
				t.Fatalf("succeeded; output:\n%s", r.Out)
			}
			contains(t, "error", r.ErrMsg, c.errWant...)
		})
	}
}

// retry="…" keeps trying until the server answers as expected.
func TestRetrySucceedsOnceTheServerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens yet: the first attempts are refused
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, names) })}
	go func() {
		time.Sleep(800 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("relisten on %s: %v", addr, err)
			return
		}
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() { srv.Close() })

	start := time.Now()
	r := exec(t, fmt.Sprintf(`print(http.get("http://%s/names", contains = %s, retry = "20s").status)`+"\n", addr, sixNames), runtime.Apply, false).MustOK(t)
	contains(t, "output", r.Out, "200", fmt.Sprintf(`… waiting for GET "http://%s/names": dial tcp %s: connect: connection refused`, addr, addr))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s: the backoff is too slow", d)
	}
}

func TestRetryTimesOutWithTheLastAnswer(t *testing.T) {
	s := newServer(t)
	start := time.Now()
	r := exec(t, fmt.Sprintf(`http.get(%q, retry = "2s")`+"\n", s.URL+"/warming"), runtime.Apply, false)
	if r.Err == nil {
		t.Fatal("succeeded against a 503")
	}
	contains(t, "error", r.ErrMsg, `http GET "`+s.URL+`/warming": not as expected after 2s (`,
		`attempts); last: status 503 Service Unavailable, want 200; body: "warming up"`)
	if d := time.Since(start); d < 2*time.Second || d > 8*time.Second {
		t.Errorf("gave up after %s, want about 2s", d)
	}
	if n := s.count("GET /warming"); n < 3 || n > 8 {
		t.Errorf("%d attempts in 2s; want a few (backoff 250ms, 500ms, 1s, …)", n)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

// A plan sends a GET (a read) but records a POST without sending it, unless the script
// marks it read-only; an offline plan sends nothing; apply sends everything.
func TestPlanSendsOnlyReads(t *testing.T) {
	s := newServer(t)
	src := fmt.Sprintf(`
step("check")
g = http.get(%[1]q + "/names", contains = "Mary Jane")
print("get", g.status)
p = http.post(%[1]q + "/things", body = {"name": "x"}, expect = 201)
print("post", p.status)
q = http.post(%[1]q + "/things", body = "query", expect = 201, read_only = True)
print("query", q.status)
d = http.delete(%[1]q + "/things", expect = 201)
`, s.URL)

	offline := exec(t, src, runtime.Plan, true).MustOK(t)
	if n := s.total(); n != 0 {
		t.Fatalf("offline plan sent %d requests", n)
	}
	if sm := offline.Res.Summary(); sm.Read != 1 || sm.Call != 3 || sm.KnownAfterApply != 4 {
		t.Errorf("offline summary %+v", sm)
	}

	plan := exec(t, src, runtime.Plan, false).MustOK(t)
	if s.count("GET /names") != 1 || s.count("POST /things") != 1 || s.count("DELETE /things") != 0 {
		t.Errorf("plan sent %v, want the GET and the read-only POST only", s.hits)
	}
	contains(t, "plan output", plan.Out, "get 200", "post (known after apply: http.post.status, main.star:5)", "query 201")
	contains(t, "plan", plan.Plan,
		`<= http GET "`+s.URL+`/names"`, `expect 200, contains "Mary Jane"`,
		`!  http POST "`+s.URL+`/things"`, `+ body: {"name":"x"}`, `+ header Content-Type: "application/json"`,
		"read-only", `!  http DELETE "`+s.URL+`/things"`,
		"Plan: 0 to create, 0 to update, 0 to delete, 3 to call, 0 unchanged, 1 to read, 2 known only after apply.")
	if !plan.Res.Changes() {
		t.Error("a planned POST is a change")
	}

	exec(t, src, runtime.Apply, false).MustOK(t)
	if s.count("GET /names") != 2 || s.count("POST /things") != 3 || s.count("DELETE /things") != 1 {
		t.Errorf("after apply: %v", s.hits)
	}
	if s.ct[len(s.ct)-3] != "application/json" || s.body[len(s.body)-3] != `{"name":"x"}` {
		t.Errorf("JSON body: content-type %q, body %q", s.ct[len(s.ct)-3], s.body[len(s.body)-3])
	}
}

// A request that depends on a value known only after apply is not sent by a plan, and
// its answer is Unknown, whether the Unknown is the URL itself, %-formatted into it, or
// in a header.
func TestPlanDoesNotSendUnknownRequests(t *testing.T) {
	s := newServer(t)
	src := fmt.Sprintf(`
tok = probe.mint("t")
a = http.get(%[1]q + "/names?t=" + tok.token)
b = http.get("%[1]s/names?t=%%s" %% tok.token)
c = http.get(%[1]q + "/names", headers = {"Authorization": tok.token})
print(a.status, b.status, c.status)
`, s.URL)
	plan := exec(t, src, runtime.Plan, false).MustOK(t)
	if n := s.total(); n != 0 {
		t.Errorf("plan sent %v", s.hits)
	}
	if sm := plan.Res.Summary(); sm.Read != 3 || sm.KnownAfterApply != 4 {
		t.Errorf("summary %+v\n%s", sm, plan.Plan)
	}
	contains(t, "plan output", plan.Out, "(known after apply: http.get.status, main.star:3)")
	contains(t, "plan", plan.Plan, "<= http GET (known after apply: probe.mint.token")

	apply := exec(t, src, runtime.Apply, false).MustOK(t)
	contains(t, "apply output", apply.Out, "200 200 200")
	if s.count("GET /names") != 3 {
		t.Errorf("apply sent %v", s.hits)
	}
}

// A secret in a header is sent as is, and is (sensitive) in every output: the plan,
// progress, the JSON record, print() of a body that echoes it, and errors.
func TestSecretHeaderIsSentButNeverShown(t *testing.T) {
	s := newServer(t)
	const canary = "CANARY-http-token-3e9f"
	src := fmt.Sprintf(`
token = var("token", "", sensitive = True)
step("call")
r = http.get(%[1]q + "/echo", headers = {"Authorization": "Bearer " + token, "X-Plain": "visible"})
print(r.body)
http.post(%[1]q + "/things", body = {"password": token, "user": "me"}, expect = 201)
http.get(%[1]q + "/echo", headers = {"Authorization": "Bearer " + token}, expect = 204)
`, s.URL)
	plan := exec(t, src, runtime.Plan, false, "token="+canary)
	apply := exec(t, src, runtime.Apply, false, "token="+canary)
	if apply.Err == nil {
		t.Fatal("the expect=204 request succeeded")
	}
	contains(t, "plan", plan.Plan, "+ header Authorization: (sensitive)", `+ header X-Plain: "visible"`,
		`+ body: {"password":"(sensitive)","user":"me"}`)
	// "Bearer " + token is registered whole, so even the prefix goes.
	contains(t, "apply output", apply.Out, "you sent: (sensitive)")
	contains(t, "apply error", apply.ErrMsg, `status 200 OK, want 204; body: "you sent: (sensitive)"`)
	for _, r := range []runtimetest.Result{plan, apply} {
		if strings.Contains(r.All(), canary) {
			t.Errorf("the secret appears in output:\n%s", r.All())
		}
	}
	// ...and yet it was sent, by the plan's GETs (reads) and by the apply.
	sent := 0
	for _, a := range s.auth {
		if a == "Bearer "+canary {
			sent++
		}
	}
	if sent != 4 {
		t.Errorf("Authorization with the secret received %d times, want 4 (the plan's and the apply's two GETs): %d requests", sent, len(s.auth))
	}
	found := false
	for _, b := range s.body {
		found = found || b == fmt.Sprintf(`{"password":%q,"user":"me"}`, canary)
	}
	if !found {
		t.Errorf("the POST body with the secret was not received: %q", s.body)
	}
}

// A GET that fails in a live plan is a warning and an Unknown, not a failed plan: the
// apply may be what brings the server up.
func TestPlanWarnsOnFailingGet(t *testing.T) {
	s := newServer(t)
	r := exec(t, fmt.Sprintf(`x = http.get(%q, retry = "1m")`+"\nprint(x.status)\n", s.URL+"/warming"), runtime.Plan, false).MustOK(t)
	if s.count("GET /warming") != 1 {
		t.Errorf("a plan should try once, not retry: %d attempts", s.count("GET /warming"))
	}
	if len(r.Res.Warnings) != 1 || !strings.Contains(r.Res.Warnings[0], "main.star:1: http GET") ||
		!strings.Contains(r.Res.Warnings[0], "status 503 Service Unavailable") {
		t.Errorf("warnings %q", r.Res.Warnings)
	}
	contains(t, "plan", r.Plan, "# not as expected when planned: status 503")
	contains(t, "output", r.Out, "(known after apply: http.get.status, main.star:1)")
}

// A read's record carries the fingerprint of its answer (a hash of status and body), for
// saved plans: the same answer gives the same fingerprint, a different body another.
func TestReadFingerprint(t *testing.T) {
	s := newServer(t)
	fp := func(path string) runtime.Fingerprint {
		t.Helper()
		r := exec(t, fmt.Sprintf("http.get(%q, expect = None)\n", s.URL+path), runtime.Plan, false).MustOK(t)
		if len(r.Res.Records) != 1 {
			t.Fatalf("records: %d", len(r.Res.Records))
		}
		return r.Res.Records[0].Fingerprint
	}
	a, again, other := fp("/names"), fp("/names"), fp("/json")
	if a == "" || a != again || a == other {
		t.Errorf("fingerprints: /names %q then %q, /json %q; want equal for equal answers, different otherwise", a, again, other)
	}
	if want := fingerprint(runtime.Struct(map[string]starlark.Value{"status": starlark.MakeInt(200), "body": starlark.String(names)})); a != want {
		t.Errorf("fingerprint %q, want the hash of status and body %q", a, want)
	}
}
