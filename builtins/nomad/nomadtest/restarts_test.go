package nomadtest

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestRestartTracker(t *testing.T) {
	type step struct {
		successful bool
		want       restartDecision
		reason     string
	}
	policy := func(attempts int, mode string) *api.RestartPolicy {
		return &api.RestartPolicy{Attempts: new(attempts), Interval: new(time.Hour), Delay: new(time.Second), Mode: new(mode)}
	}
	tests := []struct {
		name      string
		jobType   string
		policy    *api.RestartPolicy
		onSuccess bool
		steps     []step
	}{
		{"service default: 2 attempts then fail", api.JobTypeService, nil, true, []step{
			{false, restartAfterDelay, reasonWithinPolicy},
			{true, restartAfterDelay, reasonWithinPolicy}, // a service task is restarted after exit 0 too
			{false, restartNotAllowed, `Exceeded allowed attempts 2 in interval 30m0s and mode is "fail"`},
		}},
		{"batch default: 3 attempts in 24h", api.JobTypeBatch, nil, false, []step{
			{false, restartAfterDelay, reasonWithinPolicy},
			{false, restartAfterDelay, reasonWithinPolicy},
			{false, restartAfterDelay, reasonWithinPolicy},
			{false, restartNotAllowed, `Exceeded allowed attempts 3 in interval 24h0m0s and mode is "fail"`},
		}},
		{"batch success is not restarted", api.JobTypeBatch, nil, false, []step{
			{true, restartNo, reasonSuccessful},
		}},
		{"no attempts", api.JobTypeService, policy(0, "fail"), true, []step{
			{true, restartNotAllowed, reasonNoRestartsAllowed},
		}},
		{"no attempts, batch success", api.JobTypeBatch, policy(0, "fail"), false, []step{
			{true, restartNo, reasonNoRestartsAllowed},
		}},
		{"mode delay waits for the next interval", api.JobTypeService, policy(1, "delay"), true, []step{
			{false, restartAfterDelay, reasonWithinPolicy},
			{false, restartAfterDelay, reasonDelay},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := &api.Job{Type: new(tc.jobType)}
			tracker := newRestartTracker(job, &api.TaskGroup{RestartPolicy: tc.policy}, &api.Task{}, tc.onSuccess)
			for i, st := range tc.steps {
				got, delay, reason := tracker.next(st.successful)
				if got != st.want || reason != st.reason {
					t.Fatalf("exit %d: %v %q, want %v %q", i+1, got, reason, st.want, st.reason)
				}
				if got == restartAfterDelay && reason == reasonWithinPolicy {
					base := dur(tracker.policy.Delay)
					if delay < base || delay > base+base/4 {
						t.Errorf("exit %d: delay %v, want %v plus at most 25%% jitter", i+1, delay, base)
					}
				}
				if reason == reasonDelay && (delay <= 0 || delay > time.Hour) {
					t.Errorf("delay mode waits %v, want the rest of the interval", delay)
				}
			}
		})
	}
	// The default policy is Nomad's: 15s between attempts.
	if d := dur(defaultRestartPolicy(api.JobTypeService).Delay); d != 15*time.Second {
		t.Errorf("default delay %v", d)
	}
}

func TestTaskRestarts(t *testing.T) {
	srv, client := newDouble(t, Config{})

	t.Run("a service task that fails once runs again", func(t *testing.T) {
		// The first run leaves a marker and fails; the second finds it and keeps running.
		job := rawJob("flaky", `if [ -f local/ran ]; then exec sleep 60; fi; touch local/ran; exit 7`)
		job.TaskGroups[0].RestartPolicy = &api.RestartPolicy{Attempts: new(2), Delay: new(20 * time.Millisecond), Interval: new(time.Minute)}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "flaky", 20*time.Second, "running after a restart", func(a *api.Allocation) bool {
			ts := a.TaskStates["server"]
			return a.ClientStatus == "running" && ts != nil && ts.Restarts == 1 && ts.State == "running"
		})
		events := strings.Join(taskEvents(a, "server"), " | ")
		for _, want := range []string{"Terminated", "Restarting", "Started"} {
			if !strings.Contains(events, want) {
				t.Errorf("no %s event: %s", want, events)
			}
		}
		if !hasEvent(a, "server", "Terminated", "Exit Code: 7") || !hasEvent(a, "server", "Restarting", "Task restarting in") {
			t.Errorf("events %s", events)
		}
		if ts := a.TaskStates["server"]; ts.Failed || ts.LastRestart.IsZero() {
			t.Errorf("task state failed=%v last restart %v", ts.Failed, ts.LastRestart)
		}
		if pid := srv.TaskPID(a.ID, "server"); pid == 0 {
			t.Error("no running process after the restart")
		}
	})

	t.Run("attempts spent: Not Restarting fails the task", func(t *testing.T) {
		job := rawJob("broken", "exit 1")
		job.TaskGroups[0].RestartPolicy = &api.RestartPolicy{Attempts: new(2), Delay: new(20 * time.Millisecond), Interval: new(time.Minute), Mode: new("fail")}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "broken", 20*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		ts := a.TaskStates["server"]
		if ts.Restarts != 2 || !ts.Failed || ts.State != "dead" {
			t.Errorf("task state %s failed=%v restarts=%d", ts.State, ts.Failed, ts.Restarts)
		}
		if !hasEvent(a, "server", "Not Restarting", `Exceeded allowed attempts 2 in interval 1m0s and mode is "fail"`) {
			t.Errorf("events %q", taskEvents(a, "server"))
		}
		started := 0
		for _, ev := range ts.Events {
			if ev.Type == api.TaskStarted {
				started++
			}
		}
		if started != 3 {
			t.Errorf("%d Started events, want 3 (first run and two restarts): %q", started, taskEvents(a, "server"))
		}
	})

	t.Run("stopped while waiting to restart", func(t *testing.T) {
		job := rawJob("waiting", "exit 1")
		job.TaskGroups[0].RestartPolicy = &api.RestartPolicy{Attempts: new(1), Delay: new(time.Hour), Interval: new(2 * time.Hour)}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "waiting", 20*time.Second, "a restart pending", func(a *api.Allocation) bool {
			return hasEvent(a, "server", "Restarting", "Task restarting in 1h")
		})
		if ts := a.TaskStates["server"]; ts.State != "pending" || ts.Restarts != 1 {
			t.Errorf("waiting task: %s restarts %d", ts.State, ts.Restarts)
		}
		if _, _, err := client.Jobs().Deregister("waiting", false, nil); err != nil {
			t.Fatal(err)
		}
		a = waitAlloc(t, srv, "waiting", 20*time.Second, "the task killed", func(a *api.Allocation) bool {
			return a.ClientStatus == "complete"
		})
		if ts := a.TaskStates["server"]; ts.State != "dead" || ts.Failed || !hasEvent(a, "server", "Killed", "") {
			t.Errorf("stopped task: %s failed=%v events %q", ts.State, ts.Failed, taskEvents(a, "server"))
		}
	})

	t.Run("a batch task that succeeds is not restarted", func(t *testing.T) {
		job := rawJob("done", "true")
		job.Type = new("batch")
		job.TaskGroups[0].Update = nil
		job.TaskGroups[0].RestartPolicy = &api.RestartPolicy{Delay: new(20 * time.Millisecond)}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "done", 20*time.Second, "a complete allocation", func(a *api.Allocation) bool { return a.ClientStatus == "complete" })
		if ts := a.TaskStates["server"]; ts.Restarts != 0 || ts.Failed || hasEvent(a, "server", "Restarting", "") {
			t.Errorf("restarts %d failed %v events %q", ts.Restarts, ts.Failed, taskEvents(a, "server"))
		}
	})
}
