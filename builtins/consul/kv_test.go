package consul

import (
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

func TestKVRoundTrip(t *testing.T) {
	// The agent lives as long as the package's tests: start from an empty prefix, so the
	// test also holds when run again (-count=2).
	if _, err := apiClient(t).KV().DeleteTree("nvrun-test/", nil); err != nil {
		t.Fatal(err)
	}
	const canary = "CANARY-kv-s3cr3t-91b7"
	src := `
pw = var("pw", "` + canary + `", sensitive = True)
step("kv")
consul.kv_put("nvrun-test/greeting", "hello")
consul.kv_put("nvrun-test/password", pw)
print("greeting", consul.kv_get("nvrun-test/greeting"))
print("missing", consul.kv_get("nvrun-test/missing"))
print("secret", consul.kv_get("nvrun-test/password", sensitive = True))
print("leak", consul.kv_get("nvrun-test/password"))
`
	steps := []struct {
		name   string
		mode   runtime.Mode
		want   runtime.Summary
		writes int
	}{
		{"plan", runtime.Plan, runtime.Summary{Create: 2}, 0},
		{"apply", runtime.Apply, runtime.Summary{Create: 2}, 2},
		{"plan again", runtime.Plan, runtime.Summary{Unchanged: 2}, 0},
		{"apply again", runtime.Apply, runtime.Summary{Unchanged: 2}, 0},
	}
	var all strings.Builder
	for _, s := range steps {
		rec := &recorder{}
		r := exec(t, src, s.mode, execOpts{rec: rec}).MustOK(t)
		all.WriteString(r.All())
		if got := summaryOf(r); got != s.want {
			t.Errorf("%s: summary %+v, want %+v\n%s", s.name, got, s.want, r.Plan)
		}
		if w := rec.writes(); len(w) != s.writes {
			t.Errorf("%s: writes %v, want %d", s.name, w, s.writes)
		}
		if s.name == "plan" && (!strings.Contains(r.Plan, `+ value: "hello"`) || !strings.Contains(r.Plan, "+ value: (sensitive)")) {
			t.Errorf("first plan:\n%s", r.Plan)
		}
		if s.mode == runtime.Apply && !strings.Contains(r.Out, "greeting hello\nmissing None\nsecret (sensitive)\nleak (sensitive)") {
			t.Errorf("%s: output:\n%s", s.name, r.Out)
		}
	}
	// The value is really stored, and never shown.
	pair, _, err := apiClient(t).KV().Get("nvrun-test/password", nil)
	if err != nil || pair == nil || string(pair.Value) != canary {
		t.Fatalf("stored password: %v, %v", pair, err)
	}
	if strings.Contains(all.String(), canary) {
		t.Errorf("the secret value appears in output:\n%s", all.String())
	}

	// Changing a secret value is an update shown as (sensitive) on both sides.
	upd := exec(t, `consul.kv_put("nvrun-test/password", var("pw", "x", sensitive = True))`+"\n", runtime.Plan, execOpts{}).MustOK(t)
	if !strings.Contains(upd.Plan, "~ value: (sensitive) -> (sensitive)") {
		t.Errorf("update of a secret:\n%s", upd.Plan)
	}
	// Changing a plain value shows both.
	upd = exec(t, `consul.kv_put("nvrun-test/greeting", "bye")`+"\n", runtime.Plan, execOpts{}).MustOK(t)
	if !strings.Contains(upd.Plan, `~ value: "hello" -> "bye"`) {
		t.Errorf("update of a plain value:\n%s", upd.Plan)
	}
}
