package nomadtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestRawExecRunsRealProcess(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("web", `echo ok > ${NOMAD_ALLOC_DIR}/x; echo "$NOMAD_PORT_http $NOMAD_ADDR_http $NOMAD_JOB_NAME $NOMAD_GROUP_NAME $NOMAD_TASK_NAME" > $NOMAD_ALLOC_DIR/env; exec sleep 1000`)
	resp, _, err := client.Jobs().Register(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.EvalID == "" || resp.JobModifyIndex == 0 {
		t.Fatalf("register response %+v", resp)
	}

	alloc := waitAlloc(t, srv, "web", 20*time.Second, "running and healthy", func(a *api.Allocation) bool {
		return a.ClientStatus == "running" && a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy
	})
	allocDir := filepath.Join(srv.DataDir(), alloc.ID, "alloc")
	if got := strings.TrimSpace(readFile(t, filepath.Join(allocDir, "x"))); got != "ok" {
		t.Errorf("alloc/x = %q", got)
	}
	port := alloc.AllocatedResources.Shared.Ports[0].Value
	if port < 20000 || port > 32000 {
		t.Errorf("dynamic port %d outside the default range", port)
	}
	want := strconv.Itoa(port) + " 127.0.0.1:" + strconv.Itoa(port) + " web app server"
	if got := strings.TrimSpace(readFile(t, filepath.Join(allocDir, "env"))); got != want {
		t.Errorf("task env = %q, want %q", got, want)
	}
	for _, sub := range []string{"local", "secrets", "tmp"} {
		if _, err := os.Stat(filepath.Join(srv.TaskDir(alloc.ID, "server"), sub)); err != nil {
			t.Errorf("task dir: %v", err)
		}
	}
	if st, err := os.Stat(filepath.Join(srv.TaskDir(alloc.ID, "server"), "secrets")); err == nil && st.Mode().Perm() != 0o700 {
		t.Errorf("secrets/ mode %v, want 0700", st.Mode().Perm())
	}
	pid := srv.TaskPID(alloc.ID, "server")
	if pid == 0 || processGone(pid) {
		t.Fatalf("task process %d not running", pid)
	}

	// The API reports what the double did.
	info, _, err := client.Allocations().Info(alloc.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := taskEvents(info, "server"); len(got) < 3 || !strings.HasPrefix(got[0], "Received") || !strings.HasPrefix(got[1], "Task Setup") || !strings.HasPrefix(got[2], "Started") {
		t.Errorf("task events %q", got)
	}
	var dep *api.Deployment
	waitFor(t, 10*time.Second, "a successful deployment", func() (bool, string) {
		dep, _, err = client.Jobs().LatestDeployment("web", nil)
		if err != nil || dep == nil {
			return false, ""
		}
		return dep.Status == "successful", dep.Status + " " + dep.StatusDescription
	})
	if g := dep.TaskGroups["app"]; g == nil || g.HealthyAllocs != 1 || g.DesiredTotal != 1 {
		t.Errorf("deployment groups %+v", dep.TaskGroups)
	}
	stored, _, err := client.Jobs().Info("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *stored.Status != "running" || !*stored.Stable || *stored.Version != 0 {
		t.Errorf("job status %q stable %v version %d", *stored.Status, *stored.Stable, *stored.Version)
	}

	// A new version replaces the allocation: the old process goes, a new one runs.
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"COLOR": "blue"}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	next := waitAlloc(t, srv, "web", 20*time.Second, "the replacement running", func(a *api.Allocation) bool {
		return a.ID != alloc.ID && a.ClientStatus == "running"
	})
	if next.PreviousAllocation != alloc.ID || *next.Job.Version != 1 {
		t.Errorf("replacement previous=%q version=%d", next.PreviousAllocation, *next.Job.Version)
	}
	waitFor(t, 5*time.Second, "the old process to be gone", func() (bool, string) { return processGone(pid), "" })
	old, _, _ := client.Allocations().Info(alloc.ID, nil)
	if old.DesiredStatus != "stop" || old.ClientStatus != "complete" || !hasEvent(old, "server", "Killing", "Sent interrupt") || !hasEvent(old, "server", "Killed", "") {
		t.Errorf("old alloc desired=%s client=%s events %q", old.DesiredStatus, old.ClientStatus, taskEvents(old, "server"))
	}

	// Stopping the job kills the process (its whole process group).
	pid = srv.TaskPID(next.ID, "server")
	if _, _, err := client.Jobs().Deregister("web", false, nil); err != nil {
		t.Fatal(err)
	}
	waitAlloc(t, srv, "web", 10*time.Second, "the allocation to complete", func(a *api.Allocation) bool {
		return a.ID == next.ID && a.ClientStatus == "complete"
	})
	if !processGone(pid) {
		t.Errorf("process %d still alive after stop", pid)
	}
	stored, _, _ = client.Jobs().Info("web", nil)
	if !*stored.Stop || *stored.Status != "dead" || *stored.Version != 2 {
		t.Errorf("stopped job stop=%v status=%q version=%d", *stored.Stop, *stored.Status, *stored.Version)
	}
}

func TestRawExecFailures(t *testing.T) {
	srv, client := newDouble(t, Config{})

	t.Run("non-zero exit fails the allocation once the restarts are spent", func(t *testing.T) {
		job := rawJob("crash", "exit 3")
		job.TaskGroups[0].RestartPolicy = &api.RestartPolicy{Attempts: new(1), Delay: new(20 * time.Millisecond)}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "crash", 10*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		if !hasEvent(a, "server", "Terminated", "Exit Code: 3") || !hasEvent(a, "server", "Restarting", "Task restarting in") ||
			!hasEvent(a, "server", "Not Restarting", "Exceeded allowed attempts 1 in interval 30m0s") {
			t.Errorf("events %q", taskEvents(a, "server"))
		}
		if ts := a.TaskStates["server"]; !ts.Failed || ts.State != "dead" {
			t.Errorf("task state %s failed=%v", ts.State, ts.Failed)
		}
		waitFor(t, 10*time.Second, "the deployment to fail", func() (bool, string) {
			d, _, err := client.Jobs().LatestDeployment("crash", nil)
			if err != nil || d == nil {
				return false, ""
			}
			return d.Status == "failed" && d.StatusDescription == "Failed due to unhealthy allocations", d.Status
		})
	})

	t.Run("missing command is a driver failure", func(t *testing.T) {
		job := rawJob("nocmd", "")
		job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/no/such/binary"}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "nocmd", 10*time.Second, "a failed allocation", func(a *api.Allocation) bool { return a.ClientStatus == "failed" })
		if !hasEvent(a, "server", "Driver Failure", "failed to launch command with executor") {
			t.Errorf("events %q", taskEvents(a, "server"))
		}
	})

	t.Run("batch job completes", func(t *testing.T) {
		job := rawJob("once", "echo done")
		job.Type = new("batch")
		job.TaskGroups[0].Update = nil
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "once", 10*time.Second, "a complete allocation", func(a *api.Allocation) bool { return a.ClientStatus == "complete" })
		if !hasEvent(a, "server", "Terminated", "Exit Code: 0") {
			t.Errorf("events %q", taskEvents(a, "server"))
		}
		waitFor(t, 5*time.Second, "the job to be dead", func() (bool, string) {
			j, _, err := client.Jobs().Info("once", nil)
			return err == nil && *j.Status == "dead", ""
		})
	})
}

func TestRawExecUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the task user test needs root, as Nomad's raw_exec needs it to change user")
	}
	// The task user must be able to reach its task directory: t.TempDir() is not
	// searchable by others, a directory made by os.MkdirTemp in /tmp is.
	dataDir, err := os.MkdirTemp("", "nomadtest-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	srv, client := newDouble(t, Config{DataDir: dataDir})
	job := rawJob("as-nobody", `id -u > $NOMAD_ALLOC_DIR/uid; touch $NOMAD_TASK_DIR/mine; exec sleep 1000`)
	job.TaskGroups[0].Tasks[0].User = "nobody"
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "as-nobody", 10*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
	uidFile := filepath.Join(srv.DataDir(), a.ID, "alloc", "uid")
	waitFor(t, 5*time.Second, "the uid file", func() (bool, string) { _, err := os.Stat(uidFile); return err == nil, "" })
	waitFor(t, 5*time.Second, "the uid", func() (bool, string) {
		got := strings.TrimSpace(readFile(t, uidFile))
		return got == "65534", got
	})
	mine := filepath.Join(srv.TaskDir(a.ID, "server"), "local", "mine")
	waitFor(t, 5*time.Second, "the task's file", func() (bool, string) { _, err := os.Stat(mine); return err == nil, "" })
	st, err := os.Stat(mine)
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Errorf("file made by the task owned by %d", uid)
	}
}
