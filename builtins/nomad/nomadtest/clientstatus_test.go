package nomadtest

import (
	"testing"

	"github.com/hashicorp/nomad/api"
)

// TestClientStatus checks the allocation status the simulated client reports from its
// task states against Nomad 1.6's client (allocrunner getClientStatus): a failed task
// fails the allocation at once, whatever its siblings do; then running wins over
// pending, and pending over completed.
func TestClientStatus(t *testing.T) {
	running := &api.TaskState{State: "running"}
	pending := &api.TaskState{State: "pending"}
	failed := &api.TaskState{State: "dead", Failed: true}
	done := &api.TaskState{State: "dead"}
	cases := []struct {
		name       string
		states     map[string]*api.TaskState
		want, desc string
	}{
		{"no task states yet", nil, allocPending, "No tasks have started"},
		{"all pending", map[string]*api.TaskState{"a": pending, "b": pending}, allocPending, "No tasks have started"},
		{"one running one pending", map[string]*api.TaskState{"a": running, "b": pending}, allocRunning, "Tasks are running"},
		{"all running", map[string]*api.TaskState{"a": running}, allocRunning, "Tasks are running"},
		{"failed while another runs", map[string]*api.TaskState{"a": failed, "b": running}, allocFailed, "Failed tasks"},
		{"failed while another is pending", map[string]*api.TaskState{"a": failed, "b": pending}, allocFailed, "Failed tasks"},
		{"failed and completed", map[string]*api.TaskState{"a": failed, "b": done}, allocFailed, "Failed tasks"},
		{"completed while another runs", map[string]*api.TaskState{"a": done, "b": running}, allocRunning, "Tasks are running"},
		{"all completed", map[string]*api.TaskState{"a": done, "b": done}, allocComplete, "All tasks have completed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, desc := clientStatus(&api.Allocation{TaskStates: c.states})
			if got != c.want || desc != c.desc {
				t.Errorf("clientStatus = %q, %q; want %q, %q", got, desc, c.want, c.desc)
			}
		})
	}
}
