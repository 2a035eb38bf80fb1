package nomadtest

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestPausedEvalBroker: the scheduler configuration pauses the eval broker, which
// holds evaluations pending and lets them be deleted; resumed, the held ones run.
func TestPausedEvalBroker(t *testing.T) {
	srv, client := newDouble(t, Config{})
	op := client.Operator()
	evals := client.Evaluations()

	if _, err := evals.Delete([]string{"8E231CF4-CA48-43FF-B694-5801E69E22FA"}, nil); err == nil || !strings.Contains(err.Error(), "500 (eval broker is enabled; eval broker must be paused to delete evals)") {
		t.Fatalf("delete with the broker running: %v", err)
	}
	conf, _, err := op.SchedulerGetConfiguration(nil)
	if err != nil || conf.SchedulerConfig.SchedulerAlgorithm != "binpack" || !conf.SchedulerConfig.PreemptionConfig.SystemSchedulerEnabled {
		t.Fatalf("default scheduler config: %+v, %v", conf, err)
	}
	stale := *conf.SchedulerConfig
	conf.SchedulerConfig.PauseEvalBroker = true
	set, _, err := op.SchedulerCASConfiguration(conf.SchedulerConfig, nil)
	if err != nil || !set.Updated {
		t.Fatalf("pause: %+v, %v", set, err)
	}
	if set, _, err := op.SchedulerCASConfiguration(&stale, nil); err != nil || set.Updated {
		t.Errorf("CAS at a stale index: %+v, %v", set, err)
	}

	// Held: the registration's evaluation stays pending and places nothing.
	resp, _, err := client.Jobs().Register(rawJob("held", "sleep 30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _, err := evals.Info(resp.EvalID, nil); err != nil || ev.Status != "pending" || len(srv.Allocations("held")) != 0 {
		t.Fatalf("eval while paused: %+v, %v", ev, err)
	}
	if _, err := evals.Delete([]string{"8E231CF4-CA48-43FF-B694-5801E69E22FA"}, nil); err == nil || !strings.Contains(err.Error(), "eval not found") {
		t.Errorf("delete of an unknown eval: %v", err)
	}

	// A second registration's evaluation is deleted; the first runs on resume.
	job := rawJob("gone", "sleep 30")
	resp2, _, err := client.Jobs().Register(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evals.Delete([]string{resp2.EvalID}, nil); err != nil {
		t.Fatalf("delete a pending eval of a live job with no allocs: %v", err)
	}
	if _, _, err := evals.Info(resp2.EvalID, nil); err == nil {
		t.Errorf("deleted eval still there")
	}
	now, _, _ := op.SchedulerGetConfiguration(nil)
	now.SchedulerConfig.PauseEvalBroker = false
	if set, _, err := op.SchedulerSetConfiguration(now.SchedulerConfig, nil); err != nil || !set.Updated {
		t.Fatalf("resume: %+v, %v", set, err)
	}
	waitAlloc(t, srv, "held", 30*time.Second, "the held eval's placement", func(a *api.Allocation) bool { return a.EvalID == resp.EvalID })
	if ev, _, err := evals.Info(resp.EvalID, nil); err != nil || ev.Status != "complete" {
		t.Errorf("held eval after resume: %+v, %v", ev, err)
	}
	if n := len(srv.Allocations("gone")); n != 0 {
		t.Errorf("the deleted eval placed %d allocations", n)
	}

	// Bad configurations are refused as Nomad 1.6 refuses them.
	bad := *now.SchedulerConfig
	bad.SchedulerAlgorithm = "nope"
	if _, _, err := op.SchedulerSetConfiguration(&bad, nil); err == nil || !strings.Contains(err.Error(), "400 (invalid scheduler algorithm: nope)") {
		t.Errorf("bad algorithm: %v", err)
	}
}
