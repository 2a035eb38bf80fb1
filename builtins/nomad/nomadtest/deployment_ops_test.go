package nomadtest

import (
	"strings"
	"testing"
)

func TestDeploymentFailAndPause(t *testing.T) {
	// Without a client node the deployment stays running: nothing is placed.
	_, client := newDouble(t, Config{NoClient: true})
	for _, id := range []string{"f", "p"} {
		if _, _, err := client.Jobs().Register(rawJob(id, "sleep 60"), nil); err != nil {
			t.Fatal(err)
		}
	}
	latest := func(job string) string {
		t.Helper()
		d, _, err := client.Jobs().LatestDeployment(job, nil)
		if err != nil || d == nil {
			t.Fatalf("deployment of %s: %v", job, err)
		}
		return d.ID
	}
	fid, pid := latest("f"), latest("p")

	resp, _, err := client.Deployments().Fail(fid, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := client.Deployments().Info(fid, nil)
	if err != nil || d.Status != "failed" || d.StatusDescription != "Deployment marked as failed" {
		t.Fatalf("failed deployment %+v %v", d, err)
	}
	if eval, _, err := client.Evaluations().Info(resp.EvalID, nil); err != nil || eval.TriggeredBy != "deployment-watcher" || eval.DeploymentID != fid {
		t.Errorf("fail evaluation %+v %v", eval, err)
	}
	if _, _, err := client.Deployments().Fail(fid, nil); err == nil || !strings.Contains(err.Error(), "can't fail terminal deployment") {
		t.Errorf("failing twice: %v", err)
	}

	if _, _, err := client.Deployments().Pause(pid, true, nil); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := client.Deployments().Info(pid, nil); d.Status != "paused" || d.StatusDescription != "Deployment is paused" {
		t.Errorf("paused: %s %q", d.Status, d.StatusDescription)
	}
	resp, _, err = client.Deployments().Pause(pid, false, nil)
	if err != nil || resp.EvalID == "" {
		t.Fatalf("resume: %+v %v", resp, err)
	}
	if d, _, _ := client.Deployments().Info(pid, nil); d.Status != "running" || d.StatusDescription != "Deployment is running" {
		t.Errorf("resumed: %s %q", d.Status, d.StatusDescription)
	}
	if _, _, err := client.Deployments().Pause(fid, true, nil); err == nil || !strings.Contains(err.Error(), "can't pause terminal deployment") {
		t.Errorf("pausing a failed deployment: %v", err)
	}
	if _, _, err := client.Deployments().Fail("nope", nil); err == nil || !strings.Contains(err.Error(), "deployment not found") {
		t.Errorf("unknown deployment: %v", err)
	}
}

func TestAgentMembers(t *testing.T) {
	_, client := newDouble(t, Config{NodeName: "n1"})
	m, err := client.Agent().Members()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Members) != 1 || m.Members[0].Name != "n1.global" || m.Members[0].Status != "alive" || m.ServerRegion != "global" {
		t.Errorf("members %+v", m)
	}
}
