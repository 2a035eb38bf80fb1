package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/nvrun/nvrun/internal/testserver"
)

// The real Vault and Consul are started once for the package, on first use, and
// stopped by TestMain. A missing binary fails the tests that need it.
var (
	vaultOnce sync.Once
	vaultSrv  *testserver.Vault
	vaultRoot string
	vaultErr  error

	consulOnce sync.Once
	consulSrv  *testserver.Consul
	consulErr  error

	serverDirs []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if vaultSrv != nil {
		vaultSrv.Stop()
	}
	if consulSrv != nil {
		_ = consulSrv.Stop()
	}
	for _, d := range serverDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

func realVault(t *testing.T) (*testserver.Vault, string) {
	t.Helper()
	vaultOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nomadtest-vault-")
		if err != nil {
			vaultErr = err
			return
		}
		serverDirs = append(serverDirs, dir)
		vaultSrv, vaultRoot, vaultErr = testserver.StartVaultUnsealed(dir)
	})
	if vaultErr != nil {
		t.Fatalf("real Vault: %v", vaultErr)
	}
	return vaultSrv, vaultRoot
}

func realConsul(t *testing.T) *testserver.Consul {
	t.Helper()
	consulOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nomadtest-consul-")
		if err != nil {
			consulErr = err
			return
		}
		serverDirs = append(serverDirs, dir)
		consulSrv, consulErr = testserver.StartConsul(dir)
	})
	if consulErr != nil {
		t.Fatalf("real Consul: %v", consulErr)
	}
	return consulSrv
}

// newDouble starts a double for the test and a nomad/api client for it.
func newDouble(t *testing.T, cfg Config) (*Server, *api.Client) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Logf = t.Logf
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	client, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

// rawJob is a service job with one group of one raw_exec task running sh -c script,
// a dynamic port "http", and quick health settings.
func rawJob(id, script string) *api.Job {
	job := api.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"dc1"}
	tg := api.NewTaskGroup("app", 1)
	tg.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: "http"}}}}
	tg.Update = &api.UpdateStrategy{
		MinHealthyTime:  new(200 * time.Millisecond),
		HealthyDeadline: new(30 * time.Second),
		HealthCheck:     new("task_states"),
	}
	task := api.NewTask("server", "raw_exec").
		SetConfig("command", "/bin/sh").
		SetConfig("args", []string{"-c", script})
	task.KillTimeout = new(2 * time.Second)
	tg.AddTask(task)
	job.AddTaskGroup(tg)
	return job
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
}

// waitAlloc waits until the job has an allocation satisfying cond and returns it.
func waitAlloc(t *testing.T, srv *Server, jobID string, timeout time.Duration, what string, cond func(*api.Allocation) bool) *api.Allocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var found *api.Allocation
	allocs, err := srv.WaitAllocs(ctx, jobID, func(as []*api.Allocation) bool {
		for _, a := range as {
			if cond(a) {
				found = a
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, describeAllocs(allocs))
	}
	return found
}

func describeAllocs(allocs []*api.Allocation) string {
	var b strings.Builder
	for _, a := range allocs {
		fmt.Fprintf(&b, "alloc %s %s desired=%s client=%s\n", a.ID[:8], a.Name, a.DesiredStatus, a.ClientStatus)
		for name, ts := range a.TaskStates {
			fmt.Fprintf(&b, "  task %s %s failed=%v\n", name, ts.State, ts.Failed)
			for _, ev := range ts.Events {
				fmt.Fprintf(&b, "    %-20s %s\n", ev.Type, ev.DisplayMessage)
			}
		}
	}
	return b.String()
}

func taskEvents(a *api.Allocation, task string) []string {
	var out []string
	if ts := a.TaskStates[task]; ts != nil {
		for _, ev := range ts.Events {
			out = append(out, ev.Type+": "+ev.DisplayMessage)
		}
	}
	return out
}

func hasEvent(a *api.Allocation, task, typ, contains string) bool {
	if ts := a.TaskStates[task]; ts != nil {
		for _, ev := range ts.Events {
			if ev.Type == typ && strings.Contains(ev.DisplayMessage, contains) {
				return true
			}
		}
	}
	return false
}

func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
