package consul

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// register is declarative: plan -> apply -> plan Unchanged -> apply with 0 writes; a
// changed field is an Update with a per-field diff; deregister removes it once.
func TestRegisterConverges(t *testing.T) {
	const name = "api-converge"
	script := func(port int, tags, check string) string {
		return fmt.Sprintf(`
step("register")
id = consul.register(%q, id = "api-1", address = "127.0.0.1", port = %d, tags = %s, meta = {"v": "1"}, check = %s)
print("id", id)
`, name, port, tags, check)
	}
	tcp := `{"tcp": "127.0.0.1:1", "interval": "30s", "timeout": "1s"}`
	v1 := script(8080, `["a", "b"]`, tcp)

	steps := []struct {
		name    string
		src     string
		mode    runtime.Mode
		want    runtime.Summary
		writes  int
		outputs []string // in plan text (plan) or progress (apply)
	}{
		{"first plan", v1, runtime.Plan, runtime.Summary{Create: 1}, 0, []string{
			`+  consul service "api-1"`, "port 8080, tcp check",
			`+ name: "api-converge"`, `+ address: "127.0.0.1"`, "+ port: 8080", `+ tags: ["a","b"]`, `+ meta: {"v":"1"}`,
			"+ check: tcp 127.0.0.1:1 every 30s, timeout 1s",
		}},
		{"first apply", v1, runtime.Apply, runtime.Summary{Create: 1}, 1, []string{`+ consul service "api-1"`, "done", "id api-1"}},
		{"second plan", v1, runtime.Plan, runtime.Summary{Unchanged: 1}, 0, []string{`=  consul service "api-1"`}},
		{"second apply", v1, runtime.Apply, runtime.Summary{Unchanged: 1}, 0, []string{"unchanged", "id api-1"}},
		{"port and tags change", script(9090, `["a"]`, tcp), runtime.Plan, runtime.Summary{Update: 1}, 0, []string{
			`~  consul service "api-1"`, "port, tags", "~ port: 8080 -> 9090", `~ tags: ["a","b"] -> ["a"]`,
		}},
		{"check changes", script(8080, `["a", "b"]`, `{"type": "http", "http": "http://127.0.0.1:1/health", "interval": "1m"}`), runtime.Plan, runtime.Summary{Update: 1}, 0, []string{
			"~ check: tcp 127.0.0.1:1 every 30s, timeout 1s -> http http://127.0.0.1:1/health every 1m, timeout 5s",
		}},
		{"check dropped", script(8080, `["a", "b"]`, "None"), runtime.Apply, runtime.Summary{Update: 1}, 1, nil},
		{"no check converged", script(8080, `["a", "b"]`, "None"), runtime.Plan, runtime.Summary{Unchanged: 1}, 0, nil},
		{"ttl check", script(8080, `["a", "b"]`, `{"ttl": "30s"}`), runtime.Apply, runtime.Summary{Update: 1}, 1, nil},
		{"ttl converged", script(8080, `["a", "b"]`, `{"ttl": "30s"}`), runtime.Apply, runtime.Summary{Unchanged: 1}, 0, nil},
		{"deregister plan", `consul.deregister("api-1")`, runtime.Plan, runtime.Summary{Delete: 1}, 0, []string{
			`-  consul service "api-1"`, `- name: "api-converge"`, "- check: ttl 30s",
		}},
		{"deregister", `consul.deregister("api-1")`, runtime.Apply, runtime.Summary{Delete: 1}, 1, nil},
		{"deregister again", `consul.deregister("api-1")`, runtime.Apply, runtime.Summary{Unchanged: 1}, 0, []string{"not registered"}},
	}
	for _, s := range steps {
		rec := &recorder{}
		r := exec(t, s.src, s.mode, execOpts{rec: rec}).MustOK(t)
		if got := summaryOf(r); got != s.want {
			t.Errorf("%s: summary %+v, want %+v\n%s%s", s.name, got, s.want, r.Out, r.Plan)
		}
		if w := rec.writes(); len(w) != s.writes {
			t.Errorf("%s: %d writes %v, want %d", s.name, len(w), w, s.writes)
		}
		text := r.Plan
		if s.mode == runtime.Apply {
			text = r.Out
		}
		for _, want := range s.outputs {
			if !strings.Contains(text, want) {
				t.Errorf("%s: output lacks %q:\n%s", s.name, want, text)
			}
		}
	}
	if _, _, err := apiClient(t).Agent().Service("api-1", nil); err == nil {
		t.Error("api-1 is still registered after deregister")
	}
}

func TestRegisterArgumentErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`consul.register("x", port = "80")`, "port must be an int"},
		{`consul.register("x", check = {"type": "tcp"})`, `a tcp check needs "tcp"`},
		{`consul.register("x", check = {"type": "grpc", "grpc": "x"})`, `unknown key "grpc"`},
		{`consul.register("x", check = {"tcp": "a:1", "http": "http://a"})`, "give type"},
		{`consul.register("x", check = {"tcp": "a:1", "interval": "soon"})`, `interval: duration "soon"`},
		{`consul.register("x", meta = {"a": 1})`, "meta must map strings to strings"},
		{`consul.kv_put("k", 1)`, "value must be a string or a secret"},
		{`consul.wait("x", timeout = "forever")`, `timeout: duration "forever"`},
	}
	for _, c := range cases {
		// Offline: argument errors surface in the preflight, before anything is read.
		r := exec(t, c.src+"\n", runtime.Plan, execOpts{offline: true})
		if r.Err == nil || !strings.Contains(r.ErrMsg, c.want) {
			t.Errorf("%s: error %q, want it to contain %q", c.src, r.ErrMsg, c.want)
		}
	}
}
