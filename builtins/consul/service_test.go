package consul

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// A service registered with a TCP check against a listener we hold is found by
// service() and srv(); when the listener closes the check goes critical and wait()
// times out naming the check and its output.
func TestDiscoveryAndHealth(t *testing.T) {
	l, port := tcpListener(t)
	const name = "web-discovery"
	register := fmt.Sprintf(`
consul.register(%[1]q, address = "127.0.0.1", port = %[2]d, tags = ["v1"], meta = {"team": "a"},
    check = {"type": "tcp", "tcp": "127.0.0.1:%[2]d", "interval": "1s", "timeout": "1s"})
`, name, port)
	exec(t, register, runtime.Apply, execOpts{}).MustOK(t)

	found := exec(t, fmt.Sprintf(`
w = consul.wait(%[1]q, timeout = "30s")
print("wait", len(w), w[0].port)
s = consul.service(%[1]q)
print("service", len(s), s[0].address, s[0].port, s[0].tags, s[0].meta, s[0].node, s[0].id)
print("tagged", len(consul.service(%[1]q, tag = "v1")), len(consul.service(%[1]q, tag = "nope")))
r = consul.srv(%[1]q)
print("srv", len(r), r[0].host, r[0].port, r[0].target, r[0].priority, r[0].weight)
e = consul.srv(%[1]q, tag = "v1", dns = %[2]q)
print("srv explicit", e[0].host, e[0].port)
`, name, consulAgent(t).DNSAddr), runtime.Apply, execOpts{skipPreflight: true}).MustOK(t)
	for _, want := range []string{
		fmt.Sprintf("wait 1 %d", port),
		fmt.Sprintf(`service 1 127.0.0.1 %d ["v1"] {"team": "a"} nvrun-test %s`, port, name),
		"tagged 1 0",
		fmt.Sprintf("srv 1 127.0.0.1 %d ", port),
		fmt.Sprintf("srv explicit 127.0.0.1 %d", port),
	} {
		if !strings.Contains(found.Out, want) {
			t.Errorf("output lacks %q:\n%s", want, found.Out)
		}
	}
	if !strings.Contains(found.Out, ".consul 1 1") {
		t.Errorf("srv target should be a Consul name without the trailing dot, priority 1, weight 1:\n%s", found.Out)
	}
	if !strings.Contains(found.Out, fmt.Sprintf(`<= consul srv "%s.service.consul"  SRV lookup: read`, name)) {
		t.Errorf("apply progress lacks the srv read:\n%s", found.Out)
	}

	// A live plan reads srv too, and records it as a read with what it found.
	plan := exec(t, fmt.Sprintf("consul.srv(%q)\n", name), runtime.Plan, execOpts{}).MustOK(t)
	if s := summaryOf(plan); s.Read != 1 || s.KnownAfterApply != 0 {
		t.Errorf("plan summary %+v, want 1 read, known now", s)
	}

	closeAndHoldPort(t, l, port)
	waitStatus(t, name, "critical")

	timedOut := exec(t, fmt.Sprintf(`consul.wait(%q, timeout = "2s")`+"\n", name), runtime.Apply, execOpts{})
	if timedOut.Err == nil {
		t.Fatal("wait on a critical service succeeded")
	}
	wantErr := fmt.Sprintf("check service:%s (tcp): critical: dial tcp 127.0.0.1:%d: connect: connection refused", name, port)
	if !strings.Contains(timedOut.ErrMsg, "timed out after 2s") || !strings.Contains(timedOut.ErrMsg, wantErr) {
		t.Errorf("wait error should time out naming the check and its output %q; got:\n%s", wantErr, timedOut.ErrMsg)
	}
	if !strings.Contains(timedOut.Out, fmt.Sprintf(`waiting for consul service %q to be passing: 0 of 1 instances passing`, name)) {
		t.Errorf("wait progress:\n%s", timedOut.Out)
	}

	// Consul's DNS leaves critical instances out: apply says so by name; a plan
	// records it as known after apply (an earlier step may be what deploys it).
	srvApply := exec(t, fmt.Sprintf("consul.srv(%q)\n", name), runtime.Apply, execOpts{})
	if srvApply.Err == nil || !strings.Contains(srvApply.ErrMsg, fmt.Sprintf("service %q has no healthy instances", name)) {
		t.Errorf("srv in apply with no healthy instance: err = %v", srvApply.ErrMsg)
	}
	srvPlan := exec(t, fmt.Sprintf("x = consul.srv(%q)\nprint(x[0].port)\n", name), runtime.Plan, execOpts{}).MustOK(t)
	if s := summaryOf(srvPlan); s.Read != 1 || s.KnownAfterApply != 1 {
		t.Errorf("plan summary %+v, want 1 read known after apply", s)
	}
	if !strings.Contains(srvPlan.Out, "(known after apply: consul.srv[0].port") || !strings.Contains(srvPlan.Plan, "no healthy instances yet") {
		t.Errorf("plan of srv with no instances:\n%s\n%s", srvPlan.Out, srvPlan.Plan)
	}

	// passing=False accepts the critical instance; service(passing=False) lists it.
	anyHealth := exec(t, fmt.Sprintf(`
print("any", len(consul.wait(%[1]q, passing = False, timeout = "5s")))
print("all", len(consul.service(%[1]q, passing = False)), "passing", len(consul.service(%[1]q)))
`, name), runtime.Apply, execOpts{skipPreflight: true}).MustOK(t)
	if !strings.Contains(anyHealth.Out, "any 1") || !strings.Contains(anyHealth.Out, "all 1 passing 0") {
		t.Errorf("passing=False:\n%s", anyHealth.Out)
	}
}

// In a plan, wait does not wait: it is a read whose result is known after apply.
func TestWaitInPlanDoesNotWait(t *testing.T) {
	rec := &recorder{}
	r := exec(t, `w = consul.wait("never-registered", timeout = "1h")`+"\n"+`print(w)`+"\n", runtime.Plan, execOpts{rec: rec}).MustOK(t)
	if s := summaryOf(r); s.Read != 1 || s.KnownAfterApply != 1 {
		t.Errorf("summary %+v", s)
	}
	if rec.count() != 0 {
		t.Errorf("a planned wait sent %d requests: %v", rec.count(), rec.reqs)
	}
	if !strings.Contains(r.Plan, `<= consul health "never-registered"`) || !strings.Contains(r.Plan, "wait until passing (timeout 1h)") {
		t.Errorf("plan:\n%s", r.Plan)
	}
}
