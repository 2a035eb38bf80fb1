package nomadtest

import (
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestAllocStopMigrates(t *testing.T) {
	srv, client := newDouble(t, Config{})
	if _, _, err := client.Jobs().Register(rawJob("m", "sleep 60"), nil); err != nil {
		t.Fatal(err)
	}
	first := waitAlloc(t, srv, "m", 20*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
	resp, err := client.Allocations().Stop(&api.Allocation{ID: first.ID}, &api.QueryOptions{Params: map[string]string{"no_shutdown_delay": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err := client.Evaluations().Info(resp.EvalID, nil)
	if err != nil || eval.TriggeredBy != "alloc-stop" {
		t.Fatalf("stop evaluation %+v %v", eval, err)
	}
	stopped, _, err := client.Allocations().Info(first.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.DesiredStatus != "stop" || !stopped.DesiredTransition.ShouldMigrate() || !stopped.DesiredTransition.ShouldIgnoreShutdownDelay() {
		t.Errorf("stopped alloc: desired %s transition %+v", stopped.DesiredStatus, stopped.DesiredTransition)
	}
	waitAlloc(t, srv, "m", 20*time.Second, "a replacement running", func(a *api.Allocation) bool {
		return a.ID != first.ID && a.ClientStatus == "running" && a.EvalID == resp.EvalID
	})
	if _, err := client.Allocations().Stop(&api.Allocation{ID: "invalid"}, nil); statusOf(err) != 404 {
		t.Errorf("unknown allocation: %v", err)
	}
}
