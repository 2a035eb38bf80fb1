package http

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// names is the guide's /names page.
const names = `<!DOCTYPE html>
<h1> Welcome! </h1>
<h2> If everything worked correctly, you should be able to see a list of names below </h2>
<h4> John Doe </h4>
<h4> Peter Parker </h4>
<h4> Clifford Roosevelt </h4>
<h4> Bruce Wayne </h4>
<h4> Steven Clark </h4>
<h4> Mary Jane </h4>
`

// server is an httptest server that records what it received.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int // "GET /names" -> count
	auth []string       // Authorization headers received
	body []string       // request bodies received
	ct   []string       // Content-Type headers received
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{hits: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/names", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, names) })
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		io.WriteString(w, `{"names": ["John Doe", "Mary Jane"], "count": 2, "ok": true}`)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "oops:\n  database   unreachable")
	})
	mux.HandleFunc("/warming", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "warming up")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "you sent: "+r.Header.Get("Authorization"))
	})
	mux.HandleFunc("/things", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": 7}`)
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.hits[r.Method+" "+r.URL.Path]++
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.body = append(s.body, string(b))
		s.ct = append(s.ct, r.Header.Get("Content-Type"))
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key]
}

func (s *server) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

// run is the outcome of one Exec, with every output it produced.
type run struct {
	res    *runtime.Result
	err    error
	out    string
	plan   string
	json   string
	errMsg string
}

func (r run) all() string { return r.out + r.plan + r.json + r.errMsg }

func (r run) mustOK(t *testing.T) run {
	t.Helper()
	if r.err != nil {
		t.Fatalf("run failed: %s\n--- out ---\n%s\n--- plan ---\n%s", r.errMsg, r.out, r.plan)
	}
	return r
}

// exec runs src in mode with the http module and the runtime's probe module (whose
// mint() gives values known only after apply).
func exec(t *testing.T, src string, mode runtime.Mode, offline bool, vars ...string) run {
	t.Helper()
	script := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	red := runtime.NewRedactor()
	res, err := runtime.Exec(ctx, runtime.Options{
		Script:  script,
		Mode:    mode,
		Offline: offline,
		Vars:    vars,
		Modules: []runtime.Module{Module(), runtimetest.Module(runtimetest.NewServer())},
		Environ: []string{},
		Out:     &out,
	}, red)
	r := run{res: res, err: err, out: out.String()}
	if err != nil {
		r.errMsg = red.Redact(err.Error())
	}
	if res != nil {
		var text, js bytes.Buffer
		if mode == runtime.Plan {
			_ = res.WritePlan(red.Writer(&text), runtime.RenderOptions{})
		} else {
			_ = res.WriteApplySummary(red.Writer(&text), runtime.RenderOptions{})
		}
		_ = res.WriteJSON(red.Writer(&js), r.errMsg)
		r.plan, r.json = text.String(), js.String()
	}
	return r
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}
