package nomadtest

import (
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// TestPeriodicForce: forcing a periodic job launches a child job with its own
// evaluation; unknown and non-periodic jobs are refused with Nomad's errors.
func TestPeriodicForce(t *testing.T) {
	_, client := newDouble(t, Config{})
	jobs := client.Jobs()
	if _, _, err := jobs.PeriodicForce("nope", nil); err == nil || !strings.Contains(err.Error(), "500 (job not found)") {
		t.Errorf("force of an unknown job: %v", err)
	}
	if _, _, err := jobs.Register(rawJob("svc", "sleep 30"), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := jobs.PeriodicForce("svc", nil); err == nil || !strings.Contains(err.Error(), "can't force launch non-periodic job") {
		t.Errorf("force of a service job: %v", err)
	}

	job := api.NewBatchJob("cron", "cron", "global", 50)
	job.Datacenters = []string{"dc1"}
	job.Periodic = &api.PeriodicConfig{Enabled: new(true), Spec: new("*/30 * * * *"), SpecType: new("cron")}
	task := api.NewTask("t", "raw_exec").SetConfig("command", "/bin/true")
	job.AddTaskGroup(api.NewTaskGroup("g", 1).AddTask(task))
	if _, _, err := jobs.Register(job, nil); err != nil {
		t.Fatal(err)
	}
	evalID, wm, err := jobs.PeriodicForce("cron", nil)
	if err != nil || evalID == "" || wm.LastIndex == 0 {
		t.Fatalf("force: %q %+v %v", evalID, wm, err)
	}
	eval, _, err := client.Evaluations().Info(evalID, nil)
	if err != nil || eval.TriggeredBy != "periodic-job" || !strings.HasPrefix(eval.JobID, "cron/periodic-") {
		t.Fatalf("eval: %+v, %v", eval, err)
	}
	child, _, err := jobs.Info(eval.JobID, nil)
	if err != nil || *child.ParentID != "cron" || child.Periodic != nil || *child.Name != eval.JobID {
		t.Errorf("child job: %+v, %v", child, err)
	}
}
