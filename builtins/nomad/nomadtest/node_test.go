package nomadtest

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestNodeRegistersAfterAgent: with NodeRegisterAfter the client node registers after
// the agent answers, as a Nomad client does once its server has a leader. Until then
// it is not listed, a job's placement is blocked, and the registration unblocks it.
func TestNodeRegistersAfterAgent(t *testing.T) {
	start := time.Now().Unix()
	srv, client := newDouble(t, Config{NodeRegisterAfter: 2 * time.Second})
	nodes, _, err := client.Nodes().List(nil)
	if err != nil || len(nodes) != 0 {
		t.Fatalf("nodes before registration: %v, %v", nodes, err)
	}
	if _, _, err := client.Nodes().Info(srv.node.ID, nil); err == nil || !strings.Contains(err.Error(), "404 (node not found)") {
		t.Fatalf("node info before registration: %v", err)
	}
	resp, _, err := client.Jobs().Register(rawJob("early", "sleep 30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err := client.Evaluations().Info(resp.EvalID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eval.BlockedEval == "" || eval.FailedTGAllocs["app"] == nil || eval.FailedTGAllocs["app"].NodesInPool != 0 {
		t.Fatalf("eval before the node registered: %+v", eval)
	}
	alloc := waitAlloc(t, srv, "early", 30*time.Second, "placement after registration", func(a *api.Allocation) bool { return true })
	if alloc.EvalID != eval.BlockedEval {
		t.Errorf("allocation placed by eval %s, want the unblocked %s", alloc.EvalID, eval.BlockedEval)
	}
	blocked, _, err := client.Evaluations().Info(eval.BlockedEval, nil)
	if err != nil || blocked.Status != "complete" {
		t.Errorf("unblocked eval: %+v, %v", blocked, err)
	}
	node, _, err := client.Nodes().Info(srv.node.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if node.CreateIndex <= eval.CreateIndex || node.StatusUpdatedAt <= start || node.Status != "ready" {
		t.Errorf("node registered at index %d (eval at %d), status %q updated at %d (start %d)",
			node.CreateIndex, eval.CreateIndex, node.Status, node.StatusUpdatedAt, start)
	}
	if len(node.Events) != 1 || node.Events[0].Message != "Node registered" || node.Events[0].CreateIndex != node.CreateIndex {
		t.Errorf("node events: %+v", node.Events)
	}
}

// TestNodeEndpoints: /v1/node/<id> and its operations, with Nomad 1.6's shapes.
func TestNodeEndpoints(t *testing.T) {
	srv, client := newDouble(t, Config{})
	id := srv.node.ID
	nodes := client.Nodes()

	// The secret ID is sanitized to "", not left out.
	raw := map[string]any{}
	if _, err := client.Raw().Query("/v1/node/"+id, &raw, nil); err != nil {
		t.Fatal(err)
	}
	if secret, ok := raw["SecretID"]; !ok || secret != "" || raw["ID"] != id {
		t.Errorf("node body: SecretID %v (present %v), ID %v", secret, ok, raw["ID"])
	}

	// An ineligible node takes no placements; eligible again, it takes the blocked one.
	if _, err := nodes.ToggleEligibility(id, false, nil); err != nil {
		t.Fatal(err)
	}
	resp, _, err := client.Jobs().Register(rawJob("web", "sleep 30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err := client.Evaluations().Info(resp.EvalID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eval.BlockedEval == "" || eval.FailedTGAllocs["app"] == nil || eval.FailedTGAllocs["app"].NodesInPool != 1 || eval.FailedTGAllocs["app"].NodesEvaluated != 0 {
		t.Fatalf("eval on an ineligible node: %+v", eval)
	}
	if _, err := nodes.ToggleEligibility(id, true, nil); err != nil {
		t.Fatal(err)
	}
	alloc := waitAlloc(t, srv, "web", 30*time.Second, "placement once eligible", func(a *api.Allocation) bool { return true })
	info, _, err := nodes.Info(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range info.Events {
		msgs = append(msgs, e.Message)
	}
	want := "Node registered|Node marked as ineligible for scheduling|Node marked as eligible for scheduling"
	if got := strings.Join(msgs, "|"); got != want || info.SchedulingEligibility != "eligible" {
		t.Errorf("events %q, eligibility %q", got, info.SchedulingEligibility)
	}

	// The node's allocations; none for an unknown node.
	allocs, _, err := nodes.Allocations(id, nil)
	if err != nil || len(allocs) != 1 || allocs[0].ID != alloc.ID {
		t.Errorf("node allocations: %v, %v", allocs, err)
	}
	if allocs, _, err := nodes.Allocations("nope", nil); err != nil || len(allocs) != 0 {
		t.Errorf("allocations of an unknown node: %v, %v", allocs, err)
	}

	// Force-evaluate: one eval per job on the node; unknown nodes are not found.
	if _, _, err := nodes.ForceEvaluate("12345678-abcd-efab-cdef-123456789abc", nil); err == nil || !strings.Contains(err.Error(), "node not found") {
		t.Errorf("force-evaluate of an unknown node: %v", err)
	}
	var upd nodeUpdateResponse
	if _, err := client.Raw().Write("/v1/node/"+id+"/evaluate", nil, &upd, nil); err != nil || len(upd.EvalIDs) != 1 {
		t.Errorf("force-evaluate: %+v, %v", upd, err)
	} else if ev, _, err := client.Evaluations().Info(upd.EvalIDs[0], nil); err != nil || ev.TriggeredBy != "node-update" || ev.NodeID != id || ev.JobID != "web" {
		t.Errorf("node eval: %+v, %v", ev, err)
	}

	// Purge: the node is deregistered and, being alive, registers again.
	out, meta, err := nodes.Purge(id, nil)
	if err != nil || out == nil || meta.LastIndex == 0 {
		t.Fatalf("purge: %+v %+v %v", out, meta, err)
	}
	again, _, err := nodes.Info(id, nil)
	if err != nil || again.CreateIndex <= info.CreateIndex || again.Events[0].Message != "Node registered" {
		t.Errorf("node after purge: %+v, %v", again, err)
	}
	if _, _, err := nodes.Purge("12345678-abcd-efab-cdef-123456789abc", nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("purge of an unknown node: %v", err)
	}

	// Host stats of the client; an unknown node is refused.
	stats, err := nodes.Stats(id, nil)
	if err != nil || stats.Memory == nil || stats.Memory.Available == 0 || stats.AllocDirStats == nil || stats.AllocDirStats.Size == 0 {
		t.Errorf("stats: %+v, %v", stats, err)
	}
	if _, err := nodes.Stats("nope", nil); err == nil || !strings.Contains(err.Error(), "Unknown node") {
		t.Errorf("stats of an unknown node: %v", err)
	}
}
