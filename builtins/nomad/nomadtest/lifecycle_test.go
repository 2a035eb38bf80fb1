package nomadtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestInPlaceUpdateKeepsTheProcess(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("scaled", "exec sleep 1000")
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	first := waitAlloc(t, srv, "scaled", 10*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
	pid := srv.TaskPID(first.ID, "server")

	job.TaskGroups[0].Count = new(2)
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	allocs, err := srv.WaitAllocs(ctx, "scaled", func(as []*api.Allocation) bool {
		running := 0
		for _, a := range as {
			if a.ClientStatus == "running" && *a.Job.Version == 1 {
				running++
			}
		}
		return running == 2
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, describeAllocs(allocs))
	}
	if len(allocs) != 2 {
		t.Fatalf("%d allocations\n%s", len(allocs), describeAllocs(allocs))
	}
	var kept *api.Allocation
	for _, a := range allocs {
		if a.ID == first.ID {
			kept = a
		}
	}
	if kept == nil || srv.TaskPID(first.ID, "server") != pid || processGone(pid) {
		t.Fatal("the first allocation was replaced instead of updated in place")
	}
	names := map[string]bool{}
	for _, a := range allocs {
		names[a.Name] = true
	}
	if !names["scaled.app[0]"] || !names["scaled.app[1]"] {
		t.Errorf("allocation names %v", names)
	}
	waitFor(t, 10*time.Second, "the second deployment to succeed", func() (bool, string) {
		d, _, err := client.Jobs().LatestDeployment("scaled", nil)
		if err != nil || d == nil {
			return false, ""
		}
		return d.Status == "successful" && d.JobVersion == 1 && d.TaskGroups["app"].HealthyAllocs == 2, d.Status
	})
	deployments, _, err := client.Jobs().Deployments("scaled", false, nil)
	if err != nil || len(deployments) != 2 {
		t.Errorf("%d deployments, %v", len(deployments), err)
	}

	// Scaling down stops the highest index.
	job.TaskGroups[0].Count = new(1)
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	gone := waitAlloc(t, srv, "scaled", 10*time.Second, "the extra allocation to stop", func(a *api.Allocation) bool {
		return a.Name == "scaled.app[1]" && a.ClientStatus == "complete"
	})
	if gone.DesiredDescription != "alloc not needed due to job update" {
		t.Errorf("desired description %q", gone.DesiredDescription)
	}
}

func TestStaticPortReplacement(t *testing.T) {
	srv, client := newDouble(t, Config{})
	// Like the guide's database: a static port that the new version needs too.
	job := rawJob("db", `exec python3 -m http.server 25433 --bind 127.0.0.1`)
	job.TaskGroups[0].Networks = []*api.NetworkResource{{ReservedPorts: []api.Port{{Label: "db", Value: 25433}}}}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	first := waitAlloc(t, srv, "db", 10*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"V": "2"}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	next := waitAlloc(t, srv, "db", 15*time.Second, "the replacement running", func(a *api.Allocation) bool {
		return a.ID != first.ID && a.ClientStatus == "running"
	})
	// The replacement started only once the old process had let go of the port.
	time.Sleep(500 * time.Millisecond)
	info, _, _ := client.Allocations().Info(next.ID, nil)
	if info.ClientStatus != "running" {
		t.Errorf("replacement %s: %q", info.ClientStatus, taskEvents(info, "server"))
	}
	if p := info.AllocatedResources.Shared.Ports; len(p) != 1 || p[0].Value != 25433 {
		t.Errorf("ports %+v", p)
	}
}

func TestBlockingQueryAndVersions(t *testing.T) {
	_, client := newDouble(t, Config{})
	job := rawJob("watched", "exec sleep 1000")
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	_, qm, err := client.Jobs().Info("watched", nil)
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan *api.Job, 1)
	go func() {
		var j *api.Job
		for {
			got, meta, err := client.Jobs().Info("watched", &api.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: 20 * time.Second})
			if err != nil {
				done <- nil
				return
			}
			qm = meta
			if got.Version != nil && *got.Version == 1 {
				j = got
				break
			}
		}
		done <- j
	}()
	time.Sleep(300 * time.Millisecond)
	job.Meta = map[string]string{"rev": "2"}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case j := <-done:
		if j == nil || j.Meta["rev"] != "2" {
			t.Errorf("blocking query returned %+v", j)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the blocking query did not return on the change")
	}

	versions, diffs, _, err := client.Jobs().Versions("watched", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || *versions[0].Version != 1 || *versions[1].Version != 0 || len(diffs) != 1 {
		t.Fatalf("%d versions, %d diffs", len(versions), len(diffs))
	}
	if f := fieldNamed(diffs[0].Fields, "Meta[rev]"); diffs[0].Type != "Edited" || f == nil || f.New != "2" {
		t.Errorf("version diff %s %+v", diffs[0].Type, f)
	}
}

func TestCloseKillsEverything(t *testing.T) {
	srv, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job := rawJob("left-running", "trap '' INT; sleep 1000 & wait")
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "left-running", 10*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
	pid := srv.TaskPID(a.ID, "server")
	start := time.Now()
	srv.Close()
	if !processGone(pid) {
		t.Errorf("task process %d survived Close", pid)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := client.Status().Leader(); err == nil {
		t.Error("the API still answers after Close")
	}
}

func TestLifecycleOrder(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("ordered", `test -f $NOMAD_ALLOC_DIR/prepared && echo main-saw-prestart > $NOMAD_ALLOC_DIR/main; exec sleep 1000`)
	prep := api.NewTask("prepare", "raw_exec").
		SetConfig("command", "/bin/sh").
		SetConfig("args", []string{"-c", "sleep 0.3; touch $NOMAD_ALLOC_DIR/prepared"}).
		SetLifecycle(&api.TaskLifecycle{Hook: api.TaskLifecycleHookPrestart})
	job.TaskGroups[0].AddTask(prep)
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "ordered", 15*time.Second, "healthy", func(a *api.Allocation) bool {
		return a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy
	})
	if ts := a.TaskStates["prepare"]; ts.State != "dead" || ts.Failed {
		t.Errorf("prestart task %s failed=%v", ts.State, ts.Failed)
	}
	if a.ClientStatus != "running" {
		t.Errorf("alloc %s", a.ClientStatus)
	}
	if got := readFile(t, filepath.Join(srv.DataDir(), a.ID, "alloc", "main")); got != "main-saw-prestart\n" {
		t.Errorf("main task saw %q", got)
	}
}
