package nomadtest

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// freeTCPPort is a loopback port free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAgentJoinAndForceLeave: two doubles with gossip ports join; force-leave marks
// an alive member leaving, prune removes it; failures answer as Nomad's join does.
func TestAgentJoinAndForceLeave(t *testing.T) {
	_, c1 := newDouble(t, Config{SerfPort: freeTCPPort(t), NodeName: "one"})
	port2 := freeTCPPort(t)
	_, _ = newDouble(t, Config{SerfPort: port2, NodeName: "two"})
	a := c1.Agent()

	if n, err := a.Join("nope.invalid"); err == nil || n != 0 || !strings.Contains(err.Error(), "1 error occurred:\n\t* Failed to resolve nope.invalid: ") {
		t.Errorf("join of an unresolvable host: %d, %v", n, err)
	}
	closed := freeTCPPort(t)
	if n, err := a.Join("127.0.0.1:" + strconv.Itoa(closed)); err == nil || n != 0 || !strings.Contains(err.Error(), "Failed to join 127.0.0.1:"+strconv.Itoa(closed)) {
		t.Errorf("join of a closed port: %d, %v", n, err)
	}
	if err := a.ForceLeave("nope"); err != nil {
		t.Errorf("force-leave of an unknown member: %v", err)
	}
	n, err := a.Join("127.0.0.1:" + strconv.Itoa(port2))
	if err != nil || n != 1 {
		t.Fatalf("join: %d, %v", n, err)
	}
	members, err := a.MembersOpts(nil)
	if err != nil || len(members.Members) != 2 || members.Members[1].Name != "two.global" || members.Members[1].Status != "alive" || int(members.Members[1].Port) != port2 {
		t.Fatalf("members after join: %+v, %v", members, err)
	}
	if err := a.ForceLeave("two.global"); err != nil {
		t.Fatal(err)
	}
	if members, _ := a.MembersOpts(nil); members.Members[1].Status != "leaving" {
		t.Errorf("after force-leave: %+v", members.Members[1])
	}
	if err := a.ForceLeaveWithOptions("two.global", api.ForceLeaveOpts{Prune: true}); err != nil {
		t.Fatal(err)
	}
	if members, _ := a.MembersOpts(nil); len(members.Members) != 1 {
		t.Errorf("after prune: %d members", len(members.Members))
	}
}

// TestAgentMonitor: the monitor streams the agent's DEBUG request log at
// log_level=debug, and refuses an unknown level and an unknown node.
func TestAgentMonitor(t *testing.T) {
	srv, client := newDouble(t, Config{})
	stop := make(chan struct{})
	defer close(stop)
	frames, errCh := client.Agent().Monitor(stop, &api.QueryOptions{Params: map[string]string{"log_level": "debug", "node_id": srv.node.ID}})
	if _, err := client.Regions().List(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for found := false; !found; {
		select {
		case f := <-frames:
			found = f != nil && strings.Contains(string(f.Data), "[DEBUG] http: request complete: method=GET path=/v1/regions")
		case err := <-errCh:
			t.Fatal(err)
		case <-deadline:
			t.Fatal("no DEBUG line for /v1/regions")
		}
	}
	for params, want := range map[string]string{"log_level=nope": "400 (Unknown log level: nope)", "node_id=nope": "Unknown node"} {
		k, v, _ := strings.Cut(params, "=")
		_, errCh := client.Agent().Monitor(stop, &api.QueryOptions{Params: map[string]string{k: v}})
		if err := <-errCh; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("monitor with %s: %v", params, err)
		}
	}
}

// TestAgentSchedulerWorkers: the worker pool's configuration reads Nomad's defaults,
// takes a valid one, and refuses an invalid one with 400 (Invalid request).
func TestAgentSchedulerWorkers(t *testing.T) {
	_, client := newDouble(t, Config{})
	a := client.Agent()
	cfg, err := a.GetSchedulerWorkerConfig(nil)
	if err != nil || len(cfg.EnabledSchedulers) != 5 || cfg.NumSchedulers < 1 {
		t.Fatalf("default config: %+v, %v", cfg, err)
	}
	info, err := a.GetSchedulerWorkersInfo(nil)
	if err != nil || len(info.Schedulers) != cfg.NumSchedulers || info.ServerID != "nomadtest.global" {
		t.Fatalf("workers: %+v, %v", info, err)
	}
	set, err := a.SetSchedulerWorkerConfig(api.SchedulerWorkerPoolArgs{NumSchedulers: 0, EnabledSchedulers: []string{"_core", "system"}}, nil)
	if err != nil || set.NumSchedulers != 0 || strings.Join(set.EnabledSchedulers, ",") != "_core,system" {
		t.Fatalf("set: %+v, %v", set, err)
	}
	if info, _ := a.GetSchedulerWorkersInfo(nil); len(info.Schedulers) != 0 {
		t.Errorf("workers after setting none: %d", len(info.Schedulers))
	}
	for _, bad := range []api.SchedulerWorkerPoolArgs{
		{NumSchedulers: -1, EnabledSchedulers: []string{"_core"}},
		{NumSchedulers: 1, EnabledSchedulers: []string{"service"}},
		{NumSchedulers: 1, EnabledSchedulers: []string{"_core", "nope"}},
	} {
		if _, err := a.SetSchedulerWorkerConfig(bad, nil); err == nil || !strings.Contains(err.Error(), "400 (Invalid request)") {
			t.Errorf("set %+v: %v", bad, err)
		}
	}
}
