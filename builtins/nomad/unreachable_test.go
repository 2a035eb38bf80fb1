package nomad

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// Nomad unreachable: a live plan warns once and plans as offline; an apply fails.
func TestNomadUnreachable(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": `
job = nomad.job("j", groups = [nomad.group("g", tasks = [nomad.task("t", driver = "raw_exec", config = {"command": "/bin/true"})])])
print("status:", nomad.status("j"))
nomad.run(job)
nomad.stop("other")
`})
	env := []string{"NOMAD_ADDR=" + closedAddr(t), "NOMAD_TOKEN=s3cr3t-nomad-server-token"}

	r := runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if len(r.Res.Warnings) != 1 || !strings.Contains(r.Res.Warnings[0], "cannot reach Nomad at http://127.0.0.1:") {
		t.Errorf("warnings: %q", r.Res.Warnings)
	}
	mustContain(t, "output", r.Out, "status: (known after apply: nomad.status")
	mustContain(t, "plan", r.Plan, `+  nomad job "j"`, `-  nomad job "other"`, "# Nomad was not read: the job may not exist", "1 known only after apply")
	mustNotContain(t, "output", r.All(), "s3cr3t-nomad-server-token")

	start := time.Now()
	r = runScript(t, script, runConfig{mode: runtime.Apply, env: env, opts: Options{ReachWait: 300 * time.Millisecond}})
	if r.Err == nil {
		t.Fatal("apply did not fail")
	}
	mustContain(t, "error", r.ErrMsg, `nomad.status: nomad job "j": cannot reach Nomad at http://127.0.0.1:`, "connection refused")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("gave up after %s, before ReachWait", d)
	}
	mustNotContain(t, "output", r.All(), "s3cr3t-nomad-server-token")
}

// A Nomad that answers with a certificate nvrun does not trust (self-signed here) is not
// unreachable: a live plan fails, naming the address and the certificate, rather than
// warning and planning offline; an apply fails at once rather than waiting for Nomad.
func TestNomadBadCertificateIsAnError(t *testing.T) {
	var hits atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	s.StartTLS()
	defer s.Close()
	script := runtimetest.Script(t, map[string]string{"main.star": `print("status:", nomad.status("j"))` + "\n"})
	env := []string{"NOMAD_ADDR=" + s.URL, "NOMAD_TOKEN=s3cr3t-nomad-server-token"}
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r := runScript(t, script, runConfig{mode: mode, env: env, opts: Options{ReachWait: time.Hour}})
		if r.Err == nil {
			t.Fatalf("%s: succeeded against a bad certificate; warnings %q\n%s", mode, r.Res.Warnings, r.Out)
		}
		mustContain(t, "error", r.ErrMsg, "main.star:1", "Nomad at "+s.URL, "certificate")
		mustNotContain(t, "output", r.All(), "s3cr3t-nomad-server-token")
	}
	if hits.Load() != 0 {
		t.Errorf("the handler was reached %d times through an untrusted certificate", hits.Load())
	}
}
