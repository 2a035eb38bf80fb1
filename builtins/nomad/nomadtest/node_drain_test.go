package nomadtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestNodeDrain: a drain marks the node ineligible, migrates its allocation (stopped,
// the replacement blocked), completes, and shows in the Node event stream; marked
// eligible again, the node takes the blocked replacement.
func TestNodeDrain(t *testing.T) {
	srv, client := newDouble(t, Config{})
	id := srv.node.ID
	if _, _, err := client.Jobs().Register(rawJob("web", "sleep 30"), nil); err != nil {
		t.Fatal(err)
	}
	first := waitAlloc(t, srv, "web", 30*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := client.EventStream().Stream(ctx, map[api.Topic][]string{api.TopicNode: {id}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"reason": "maintenance"}
	if _, err := client.Nodes().UpdateDrainOpts(id, &api.DrainOptions{DrainSpec: &api.DrainSpec{Deadline: time.Minute}, Meta: meta}, nil); err != nil {
		t.Fatal(err)
	}
	var types []string
	for done := false; !done; {
		select {
		case evs := <-stream:
			if evs == nil || evs.Err != nil {
				t.Fatalf("stream: %+v", evs)
			}
			for _, e := range evs.Events {
				node, err := e.Node()
				if err != nil {
					t.Fatal(err)
				}
				types = append(types, e.Type)
				if node.LastDrain != nil && node.LastDrain.Status == api.DrainStatusComplete {
					if node.Drain || node.SchedulingEligibility != "ineligible" || node.LastDrain.Meta["reason"] != "maintenance" {
						t.Errorf("completed drain: %+v %+v", node, node.LastDrain)
					}
					done = true
				}
			}
		case <-ctx.Done():
			t.Fatalf("no completed drain in the stream; saw %v", types)
		}
	}
	if got := strings.Join(types, ","); got != "NodeRegistration,NodeDrain,NodeDrain" {
		t.Errorf("event types %s", got)
	}
	stopped := srv.Allocations("web")
	if len(stopped) != 1 || stopped[0].ID != first.ID || stopped[0].DesiredDescription != "alloc is being migrated" {
		t.Fatalf("after drain: %s", describeAllocs(stopped))
	}
	if _, err := client.Nodes().UpdateDrain(id, nil, true, nil); err != nil {
		t.Fatal(err)
	}
	waitAlloc(t, srv, "web", 30*time.Second, "replacement once eligible", func(a *api.Allocation) bool { return a.ID != first.ID && a.ClientStatus == "running" })

	// Other topics are refused, not streamed empty.
	if _, err := client.EventStream().Stream(ctx, map[api.Topic][]string{api.TopicJob: {"*"}}, 0, nil); err == nil || !strings.Contains(err.Error(), "only the Node topic") {
		t.Errorf("job topic: %v", err)
	}
}
