package nomad

import (
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestFailedAllocs(t *testing.T) {
	failedTask := map[string]*api.TaskState{"server": {State: "dead", Failed: true}}
	cases := []struct {
		name  string
		alloc api.AllocationListStub
		want  bool
	}{
		{"running", api.AllocationListStub{ClientStatus: "running"}, false},
		{"pending", api.AllocationListStub{ClientStatus: "pending"}, false},
		{"client failed", api.AllocationListStub{ClientStatus: "failed"}, true},
		{"lost", api.AllocationListStub{ClientStatus: "lost"}, true},
		{"a task failed while the alloc still runs", api.AllocationListStub{ClientStatus: "running", TaskStates: failedTask}, true},
		// Nomad rescheduled it: its replacement is what counts, not the failure.
		{"failed but replaced", api.AllocationListStub{ClientStatus: "failed", TaskStates: failedTask, NextAllocation: "b"}, false},
	}
	for _, c := range cases {
		a := c.alloc
		a.ID = "a"
		if got := len(failedAllocs([]*api.AllocationListStub{&a})) == 1; got != c.want {
			t.Errorf("%s: failed = %v, want %v", c.name, got, c.want)
		}
	}
}
