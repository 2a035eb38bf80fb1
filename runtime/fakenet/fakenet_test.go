package fakenet

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

func TestTransportServesInMemory(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" host="+r.Host)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "got "+string(b))
	})
	c := &http.Client{Transport: Transport(h)}
	res, err := c.Post("http://vault.example:8200/v1/sys/x?a=1", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusTeapot || string(b) != "got body" {
		t.Errorf("answer = %d %q, want 418 \"got body\"", res.StatusCode, b)
	}
	if got, want := res.Header.Get("X-Seen"), "POST /v1/sys/x?a=1 host=vault.example:8200"; got != want {
		t.Errorf("handler saw %q, want %q", got, want)
	}
}

func TestUnreachableIsUnreachable(t *testing.T) {
	c := &http.Client{Transport: Unreachable("vault")}
	_, err := c.Get("http://127.0.0.1:1/v1/sys/health")
	if err == nil || !runtime.IsUnreachable(err) {
		t.Fatalf("err = %v; want an error runtime.IsUnreachable accepts", err)
	}
	if !strings.Contains(err.Error(), "vault is not described") {
		t.Errorf("err = %v; want it to say which server is not described", err)
	}
}
