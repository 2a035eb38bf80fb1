package nomad

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// dropPlanDiff is a proxy in front of the double that removes the Diff field from
// job-plan answers, as an older server or a filtering proxy might.
func dropPlanDiff(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	director := p.Director
	p.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("Accept-Encoding") // a plain body, to edit
	}
	p.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/plan") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		if _, ok := m["Diff"]; !ok {
			t.Errorf("the double's plan answer has no Diff to drop")
		}
		delete(m, "Diff")
		if body, err = json.Marshal(m); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A job-plan answer without a diff does not prove the job unchanged: the plan shows an
// update, and apply registers (issue 14: it counted as unchanged, and apply skipped the
// register).
func TestPlanWithoutDiffIsNotUnchanged(t *testing.T) {
	srv := startDouble(t, "", "")
	script := runtimetest.Script(t, map[string]string{"main.star": sleeperJob})
	fast := Options{PollInterval: 100 * time.Millisecond}
	direct := doubleEnv(srv)
	if r := runScript(t, script, runConfig{mode: runtime.Apply, env: direct, opts: fast, vars: []string{"wait=running"}}); r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	proxied := []string{"NOMAD_ADDR=" + dropPlanDiff(t, srv.URL)}

	// A changed job (so a skipped register would be a lost change), through the proxy.
	vars := []string{"wait=running", "pgport=5499"}
	r := runScript(t, script, runConfig{mode: runtime.Plan, env: proxied, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if s := r.Res.Summary(); s.Update != 1 || s.Unchanged != 0 {
		t.Fatalf("plan without a diff: %+v\n%s", s, r.Plan)
	}
	mustContain(t, "plan", r.Plan, `~  nomad job "sleeper"`, "Nomad's plan answer has no diff, so whether the job changed is unknown")

	r = runScript(t, script, runConfig{mode: runtime.Apply, env: proxied, vars: vars, opts: fast})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if n := srv.Registrations("sleeper"); n != 2 {
		t.Fatalf("registrations = %d, want 2: apply skipped the register", n)
	}
	// Nomad, asked directly, now has the change: the job is unchanged.
	r = runScript(t, script, runConfig{mode: runtime.Plan, env: direct, vars: vars})
	if s := r.Res.Summary(); r.Err != nil || s.Unchanged != 1 {
		t.Fatalf("after apply: %+v %s", s, r.ErrMsg)
	}
	// A new job planned without a diff is a create.
	script2 := runtimetest.Script(t, map[string]string{"main.star": strings.Replace(sleeperJob, `"sleeper"`, `"fresh"`, 1)})
	r = runScript(t, script2, runConfig{mode: runtime.Plan, env: proxied})
	if s := r.Res.Summary(); r.Err != nil || s.Create != 1 {
		t.Fatalf("new job without a diff: %+v %s", s, r.ErrMsg)
	}
}
