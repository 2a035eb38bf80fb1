package consul

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
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

// Each record carries the fingerprint of what its read saw, for saved plans: a KV
// entry's ModifyIndex (absent before it exists), and for an agent service its
// ModifyIndex or, where the agent reports none, a hash that moves when the service does.
// The resource's Delete is recorded too, for destroy.
func TestFingerprints(t *testing.T) {
	c := apiClient(t)
	if _, err := c.KV().DeleteTree("nvrun-fp/", nil); err != nil {
		t.Fatal(err)
	}
	_ = c.Agent().ServiceDeregister("fp-web")
	const src = `consul.kv_put("nvrun-fp/k", "v")` + "\n" + `consul.register("fp-web", port = 8080)` + "\n"
	fps := func(mode runtime.Mode) (kv, svc *runtime.Record) {
		t.Helper()
		r := exec(t, src, mode, execOpts{}).MustOK(t)
		if len(r.Res.Records) != 2 {
			t.Fatalf("records: %d\n%s", len(r.Res.Records), r.Plan)
		}
		return r.Res.Records[0], r.Res.Records[1]
	}
	kv, svc := fps(runtime.Plan)
	if kv.Fingerprint != runtime.Absent || svc.Fingerprint != runtime.Absent {
		t.Errorf("before creation: fingerprints %q, %q; want %q", kv.Fingerprint, svc.Fingerprint, runtime.Absent)
	}
	if kv.Delete == nil || svc.Delete == nil {
		t.Error("kv_put and register records lack their Delete")
	}
	fps(runtime.Apply)
	kv, svc = fps(runtime.Plan)
	pair, _, err := c.KV().Get("nvrun-fp/k", nil)
	if err != nil || pair == nil {
		t.Fatalf("kv: %v %v", pair, err)
	}
	if want := runtime.IndexFingerprint(pair.ModifyIndex); kv.Fingerprint != want {
		t.Errorf("kv fingerprint %q, want the entry's ModifyIndex %q", kv.Fingerprint, want)
	}
	before := svc.Fingerprint
	if before == "" || before == runtime.Absent {
		t.Errorf("service fingerprint %q once registered", before)
	}
	// The service changes behind nvrun's back: its fingerprint moves.
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "fp-web", Name: "fp-web", Port: 9090}); err != nil {
		t.Fatal(err)
	}
	if _, svc = fps(runtime.Plan); svc.Fingerprint == before {
		t.Errorf("service fingerprint %q did not move when the service changed", before)
	}
	_ = c.Agent().ServiceDeregister("fp-web")
}

// consul.kv_put reads ahead in a live plan: the plan is the one read one by one, byte for
// byte, with entries absent, equal and different, and a print between them.
func TestKVPlanReadAheadIsSequential(t *testing.T) {
	if _, err := apiClient(t).KV().DeleteTree("nvrun-ra/", nil); err != nil {
		t.Fatal(err)
	}
	var seed, src strings.Builder
	for i := range 60 {
		fmt.Fprintf(&src, "consul.kv_put('nvrun-ra/%d', 'v%d')\n", i, i)
		if i == 30 {
			src.WriteString("print('half way')\n")
		}
		switch i % 3 {
		case 1:
			fmt.Fprintf(&seed, "consul.kv_put('nvrun-ra/%d', 'v%d')\n", i, i)
		case 2:
			fmt.Fprintf(&seed, "consul.kv_put('nvrun-ra/%d', 'old')\n", i)
		}
	}
	exec(t, seed.String(), runtime.Apply, execOpts{}).MustOK(t)
	seq := exec(t, src.String(), runtime.Plan, execOpts{parallelism: 1}).MustOK(t)
	if got := summaryOf(seq); got != (runtime.Summary{Create: 20, Update: 20, Unchanged: 20}) {
		t.Fatalf("plan: %+v\n%s", got, seq.Plan)
	}
	for _, n := range []int{0, 4} {
		ahead := exec(t, src.String(), runtime.Plan, execOpts{parallelism: n}).MustOK(t)
		if ahead.Plan != seq.Plan || ahead.JSON != seq.JSON || ahead.Out != seq.Out {
			t.Errorf("parallelism %d: plan differs from the sequential one:\n%s\nwant:\n%s", n, ahead.Plan, seq.Plan)
		}
	}
}
