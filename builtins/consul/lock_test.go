package consul

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/nvrun/nvrun/runtime"
)

// An apply interrupted while Consul creates its lock session must not leave the session
// behind: Consul makes it even when the client has gone, and only its answer carries the
// ID needed to destroy it.
func TestLockInterruptedDuringSessionCreate(t *testing.T) {
	agent := consulAgent(t)
	target, _ := url.Parse(agent.HTTPAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	created := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/session/create" {
			proxy.ServeHTTP(w, r)
			return
		}
		// Consul acts on the request at once; its answer is late.
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		created <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer slow.Close()

	key := "nvrun/test/interrupted-create"
	env := map[string]string{"CONSUL_HTTP_ADDR": slow.URL}
	lock, err := NewLock(func(k string) string { return env[k] }, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-created; cancel() }()
	release, err := lock.Lock(ctx, runtime.LockHolder{Who: "test@here", Since: time.Now().UTC()}, 0)
	if err == nil {
		release(context.Background())
		t.Fatal("an interrupted lock was taken")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the interrupt", err)
	}

	c, err := api.NewClient(&api.Config{Address: agent.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	sessions, _, err := c.Session().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if strings.Contains(s.Name, key) {
			t.Errorf("session %q (%s) is left after the interrupted lock", s.Name, s.ID)
		}
	}
}
