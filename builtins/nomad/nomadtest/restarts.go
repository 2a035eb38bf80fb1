package nomadtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The restart tracker of Nomad's client (client/allocrunner/taskrunner/restarts): after
// a task's process exits, it decides from the group's (or task's) restart policy
// whether the task restarts, after which delay, and why.

// Restart reasons, as the client words them.
const (
	reasonNoRestartsAllowed = "Policy allows no restarts"
	reasonUnrecoverable     = "Error was unrecoverable"
	reasonWithinPolicy      = "Restart within policy"
	reasonDelay             = "Exceeded allowed attempts, applying a delay"
	reasonSuccessful        = "Restart unnecessary as task terminated successfully"
)

// restartJitter is the client's jitter: up to a quarter of the delay is added.
const restartJitter = 0.25

// restartDecision is what the tracker decides after an exit.
type restartDecision int

const (
	restartNo         restartDecision = iota // Terminated: done, not failed
	restartNotAllowed                        // Not Restarting: the task fails
	restartAfterDelay                        // Restarting
)

type restartTracker struct {
	policy    api.RestartPolicy
	onSuccess bool // restart after a successful exit too (service and sidecar tasks)
	count     int
	start     time.Time // start of the current interval
}

// newRestartTracker uses the task's restart policy (which api canonicalization merges
// from the group's), else the group's, else Nomad's defaults for the job type.
func newRestartTracker(job *api.Job, tg *api.TaskGroup, task *api.Task, onSuccess bool) *restartTracker {
	p := task.RestartPolicy
	if p == nil && tg != nil {
		p = tg.RestartPolicy
	}
	t := &restartTracker{policy: defaultRestartPolicy(str(job.Type)), onSuccess: onSuccess, start: time.Now()}
	if p != nil {
		if p.Attempts != nil {
			t.policy.Attempts = p.Attempts
		}
		if p.Interval != nil {
			t.policy.Interval = p.Interval
		}
		if p.Delay != nil {
			t.policy.Delay = p.Delay
		}
		if p.Mode != nil {
			t.policy.Mode = p.Mode
		}
	}
	return t
}

// defaultRestartPolicy is Nomad's: service and system jobs 2 attempts in 30m, batch
// jobs 3 in 24h, each after 15s, then fail.
func defaultRestartPolicy(jobType string) api.RestartPolicy {
	if jobType == api.JobTypeBatch || jobType == api.JobTypeSysbatch {
		return api.RestartPolicy{Attempts: new(3), Interval: new(24 * time.Hour), Delay: new(15 * time.Second), Mode: new(api.RestartPolicyModeFail)}
	}
	return api.RestartPolicy{Attempts: new(2), Interval: new(30 * time.Minute), Delay: new(15 * time.Second), Mode: new(api.RestartPolicyModeFail)}
}

// next is the tracker's GetState after an exit (successful: code 0, no signal).
func (t *restartTracker) next(successful bool) (restartDecision, time.Duration, string) {
	attempts := intv(t.policy.Attempts)
	if attempts == 0 {
		if !t.onSuccess && successful {
			return restartNo, 0, reasonNoRestartsAllowed
		}
		return restartNotAllowed, 0, reasonNoRestartsAllowed
	}
	interval := dur(t.policy.Interval)
	if now := time.Now(); now.After(t.start.Add(interval)) {
		t.count, t.start = 0, now
	}
	t.count++
	if successful && !t.onSuccess {
		return restartNo, 0, reasonSuccessful
	}
	if t.count > attempts {
		if str(t.policy.Mode) == api.RestartPolicyModeFail {
			return restartNotAllowed, 0, fmt.Sprintf("Exceeded allowed attempts %d in interval %v and mode is %q", attempts, interval, api.RestartPolicyModeFail)
		}
		return restartAfterDelay, time.Until(t.start.Add(interval)), reasonDelay
	}
	return restartAfterDelay, t.jitter(), reasonWithinPolicy
}

func (t *restartTracker) jitter() time.Duration {
	d := int64(dur(t.policy.Delay))
	if d <= 0 {
		d = 1
	}
	return time.Duration(d + int64(float64(rand.Int64N(d))*restartJitter))
}

// restartingEvent is the client's Restarting event.
func restartingEvent(delay time.Duration, reason string) *api.TaskEvent {
	msg := fmt.Sprintf("Task restarting in %v", delay)
	if reason != "" && reason != reasonWithinPolicy {
		msg = reason + " - " + msg
	}
	ev := newEvent(api.TaskRestarting, msg)
	ev.StartDelay = int64(delay)
	ev.RestartReason = reason
	ev.Details["start_delay"] = strconv.FormatInt(int64(delay), 10)
	ev.Details["restart_reason"] = reason
	return ev
}

// notRestartingEvent is the client's Not Restarting event; it fails the task.
func notRestartingEvent(reason string) *api.TaskEvent {
	ev := newEvent(api.TaskNotRestarting, reason)
	ev.RestartReason = reason
	ev.Details["restart_reason"] = reason
	ev.FailsTask = true
	ev.Details["fails_task"] = "true"
	return ev
}
