package http

import (
	"io"
	"net/http"
	"net/http/httptest"
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

// exec runs src in mode with the http module and the runtime's probe module (whose
// mint() gives values known only after apply).
func exec(t *testing.T, src string, mode runtime.Mode, offline bool, vars ...string) runtimetest.Result {
	t.Helper()
	return runtimetest.Exec(t, runtimetest.Script(t, map[string]string{"main.star": src}), runtimetest.ExecOptions{
		Mode:    mode,
		Offline: offline,
		Vars:    vars,
		Modules: []runtime.Module{Module(Options{}), runtimetest.Module(runtimetest.NewServer())},
		Timeout: time.Minute,
	})
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}
