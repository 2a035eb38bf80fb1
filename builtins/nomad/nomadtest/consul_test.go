package nomadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

func TestConsulServices(t *testing.T) {
	c := realConsul(t)
	srv, client := newDouble(t, Config{ConsulAddr: c.HTTPAddr})
	consul, err := consulapi.NewClient(&consulapi.Config{Address: c.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}

	// A real listener on the allocated port, so that the TCP check passes.
	job := rawJob("web", `exec python3 -m http.server "$NOMAD_PORT_http" --bind 127.0.0.1`)
	tg := job.TaskGroups[0]
	tg.Update.HealthCheck = new("checks")
	tg.Services = []*api.Service{{
		Name:      "nomadtest-web",
		PortLabel: "http",
		Tags:      []string{"urlprefix-/"},
		Checks:    []api.ServiceCheck{{Type: "tcp", Interval: time.Second, Timeout: time.Second}},
	}}
	tg.Tasks[0].Services = []*api.Service{{Name: "nomadtest-task", PortLabel: "http"}}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "web", 30*time.Second, "a healthy allocation", func(a *api.Allocation) bool {
		return a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy
	})
	port := a.AllocatedResources.Shared.Ports[0].Value

	tests := []struct {
		service, id string
	}{
		{"nomadtest-web", "_nomad-task-" + a.ID + "-group-app-nomadtest-web-http"},
		{"nomadtest-task", "_nomad-task-" + a.ID + "-server-nomadtest-task-http"},
	}
	for _, tc := range tests {
		entries, _, err := consul.Catalog().Service(tc.service, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("%s: %d catalog entries", tc.service, len(entries))
		}
		e := entries[0]
		if e.ServiceID != tc.id || e.ServicePort != port || e.ServiceAddress != "127.0.0.1" || e.ServiceMeta["external-source"] != "nomad" {
			t.Errorf("%s: id %q port %d address %q meta %v (want id %q port %d)", tc.service, e.ServiceID, e.ServicePort, e.ServiceAddress, e.ServiceMeta, tc.id, port)
		}
	}
	// The allocation turned healthy on the agent's view of the check; the catalog
	// follows with Consul's anti-entropy sync.
	waitFor(t, 15*time.Second, "the check to pass in the catalog", func() (bool, string) {
		checks, _, err := consul.Health().Checks("nomadtest-web", nil)
		if err != nil || len(checks) != 1 {
			return false, fmt.Sprintf("%d checks, %v", len(checks), err)
		}
		ch := checks[0]
		if !strings.HasPrefix(ch.CheckID, "_nomad-check-") || ch.Name != `service: "nomadtest-web" check` {
			t.Fatalf("check %q %q", ch.CheckID, ch.Name)
		}
		return ch.Status == "passing", ch.Status
	})

	if _, _, err := client.Jobs().Deregister("web", false, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the services to leave the catalog", func() (bool, string) {
		n := 0
		for _, name := range []string{"nomadtest-web", "nomadtest-task"} {
			entries, _, err := consul.Catalog().Service(name, "", nil)
			if err != nil {
				return false, err.Error()
			}
			n += len(entries)
		}
		return n == 0, ""
	})
}

func TestConsulTemplate(t *testing.T) {
	c := realConsul(t)
	srv, client := newDouble(t, Config{ConsulAddr: c.HTTPAddr})
	consul, err := consulapi.NewClient(&consulapi.Config{Address: c.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consul.KV().Put(&consulapi.KVPair{Key: "nomadtest/greeting", Value: []byte("hello from consul")}, nil); err != nil {
		t.Fatal(err)
	}
	job := rawJob("greeter", `cat $NOMAD_TASK_DIR/greeting > $NOMAD_ALLOC_DIR/out; echo " $GREETING_ENV" >> $NOMAD_ALLOC_DIR/out`)
	job.Type = new("batch")
	job.TaskGroups[0].Update = nil
	job.TaskGroups[0].Tasks[0].Templates = []*api.Template{
		{EmbeddedTmpl: new(`{{ key "nomadtest/greeting" }}`), DestPath: new("local/greeting"), Perms: new("0600")},
		{EmbeddedTmpl: new(`GREETING_ENV={{ key "nomadtest/greeting" | toUpper }}`), DestPath: new("local/env"), Envvars: new(true)},
	}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	a := waitAlloc(t, srv, "greeter", 30*time.Second, "a finished allocation", func(a *api.Allocation) bool {
		return a.ClientStatus == "complete" || a.ClientStatus == "failed"
	})
	if a.ClientStatus != "complete" {
		t.Fatalf("alloc %s: %q", a.ClientStatus, taskEvents(a, "server"))
	}
	if got := readFile(t, filepath.Join(srv.DataDir(), a.ID, "alloc", "out")); got != "hello from consul HELLO FROM CONSUL\n" {
		t.Errorf("task saw %q", got)
	}
	st, err := os.Stat(filepath.Join(srv.TaskDir(a.ID, "server"), "local", "greeting"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("template perms %v %v", st.Mode(), err)
	}
}
