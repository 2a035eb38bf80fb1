package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a small server that counts the requests it acted on.
func backend(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"path":"`+r.URL.Path+`","query":"`+r.URL.RawQuery+`"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name      string
		fault     Fault
		method    string
		path      string
		wantCode  int
		wantBody  string
		wantErr   string // a client error instead of an answer
		wantActed int32  // requests the backend acted on
	}{
		{"no fault passes through", Fault{Path: "/other", Status: 500}, "GET", "/v1/x?a=1", 200, `{"path":"/v1/x","query":"a=1"}`, "", 1},
		{"status for a matching path", Fault{Path: "/v1/x", Status: 500, Body: "boom"}, "GET", "/v1/x", 500, "boom", "", 0},
		{"prefix match and method", Fault{Method: "PUT", Path: "/v1/*", Status: 503}, "PUT", "/v1/a/b", 503, "", "", 0},
		{"other method is not hit", Fault{Method: "PUT", Path: "/v1/*", Status: 503}, "GET", "/v1/a/b", 200, `{"path":"/v1/a/b","query":""}`, "", 1},
		{"forwarded, then 500", Fault{Path: "/v1/x", Forward: true, Status: 500}, "POST", "/v1/x", 500, "", "", 1},
		{"truncated body", Fault{Path: "/v1/x", Truncate: 5}, "GET", "/v1/x", 0, "", "unexpected EOF", 1},
		{"dropped", Fault{Path: "/v1/x", Drop: true}, "GET", "/v1/x", 0, "", "EOF", 0},
		{"dropped after forwarding", Fault{Path: "/v1/x", Drop: true, Forward: true}, "POST", "/v1/x", 0, "", "EOF", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, acted := backend(t)
			p, err := New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.Add(c.fault)
			req, _ := http.NewRequest(c.method, p.URL+c.path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case resp.StatusCode != c.wantCode || (c.wantBody != "" && string(body) != c.wantBody):
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, c.wantCode, c.wantBody)
			}
			if got := acted.Load(); got != c.wantActed {
				t.Fatalf("backend acted on %d requests, want %d", got, c.wantActed)
			}
		})
	}
}

func TestTimesAndClear(t *testing.T) {
	srv, _ := backend(t)
	p, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Add(Fault{Path: "/x", Status: 500, Times: 1})
	codes := func() (out []int) {
		for range 2 {
			resp, err := http.Get(p.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return out
	}
	if got := codes(); got[0] != 500 || got[1] != 200 || p.Hits() != 1 {
		t.Fatalf("Times=1: codes %v, hits %d", got, p.Hits())
	}
	p.Add(Fault{Path: "/x", Status: 500})
	p.Clear()
	if got := codes(); got[0] != 200 || got[1] != 200 {
		t.Fatalf("after Clear: codes %v", got)
	}
}

func TestHoldAndLatencyEndWithTheClient(t *testing.T) {
	srv, acted := backend(t)
	p, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// A PUT with a body too: the proxy must still notice its client hanging up.
	for _, f := range []Fault{{Path: "/x", Hold: true}, {Path: "/x", Latency: time.Hour}, {Method: "PUT", Path: "/x", Latency: time.Hour}} {
		p.Clear()
		p.Add(f)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		method := f.Method
		if method == "" {
			method = "GET"
		}
		req, _ := http.NewRequestWithContext(ctx, method, p.URL+"/x", strings.NewReader(`{"a":1}`))
		_, err := http.DefaultClient.Do(req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%+v: err = %v, want the client's deadline", f, err)
		}
	}
	if acted.Load() != 0 {
		t.Fatalf("a held or delayed request reached the backend")
	}
	// Close returns although a request is still held (its client never gives up).
	p.Clear()
	p.Add(Fault{Path: "/held", Hold: true})
	go http.Get(p.URL + "/held")
	for p.Hits() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	p.Close()
}
