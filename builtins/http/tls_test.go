package http

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// A server that answers with a certificate nvrun does not trust (here self-signed) is not
// "not up yet": a live plan fails rather than warning, and an apply with retry= fails at
// the first attempt rather than retrying until the deadline.
func TestBadCertificateIsAnError(t *testing.T) {
	var hits atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	s.StartTLS()
	defer s.Close()

	plan := exec(t, "x = http.get(\""+s.URL+"/names\")\nprint(x.status)\n", runtime.Plan, false)
	if plan.Err == nil {
		t.Fatalf("a live plan against a bad certificate succeeded; warnings %q", plan.Res.Warnings)
	}
	contains(t, "plan error", plan.ErrMsg, "main.star:1", "http GET \""+s.URL+"/names\"", "certificate")

	apply := exec(t, "http.get(\""+s.URL+"/names\", retry = \"10m\")\n", runtime.Apply, false)
	if apply.Err == nil || !strings.Contains(apply.ErrMsg, "certificate") {
		t.Fatalf("apply: %q", apply.ErrMsg)
	}
	if strings.Contains(apply.ErrMsg, "attempts") {
		t.Errorf("a bad certificate was retried: %s", apply.ErrMsg)
	}
	if hits.Load() != 0 {
		t.Errorf("the handler was reached %d times through an untrusted certificate", hits.Load())
	}
}
