package nomadtest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// statusOf is the HTTP status of a nomad/api error.
func statusOf(err error) int {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode()
	}
	return 0
}

func TestRegisterValidation(t *testing.T) {
	_, client := newDouble(t, Config{})
	tests := []struct {
		name   string
		mutate func(j *api.Job)
		want   string // the whole 500 body, as nomad/api reports it
	}{
		{
			name:   "no driver",
			mutate: func(j *api.Job) { j.TaskGroups[0].Tasks[0].Driver = "" },
			want: "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task server validation failed: 1 error occurred:\n\t" +
				"* Missing task driver",
		},
		{
			name: "duplicate task",
			mutate: func(j *api.Job) {
				j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, api.NewTask("server", "raw_exec").SetConfig("command", "true"))
			},
			want: "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task 2 redefines 'server' from task 1",
		},
		{
			name: "service port label not in the group network",
			mutate: func(j *api.Job) {
				j.TaskGroups[0].Tasks[0].Services = []*api.Service{{Name: "web", PortLabel: "htp"}}
			},
			want: "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task server validation failed: 1 error occurred:\n\t" +
				"* 1 error occurred:\n\t* port label \"htp\" referenced by services web does not exist",
		},
		{
			name:   "empty datacenter",
			mutate: func(j *api.Job) { j.Datacenters = []string{""} },
			want:   "1 error occurred:\n\t* Job datacenter must be non-empty string",
		},
		{
			name:   "duplicate group",
			mutate: func(j *api.Job) { j.TaskGroups = append(j.TaskGroups, j.TaskGroups[0]) },
			want:   "1 error occurred:\n\t* Job task group 2 redefines 'app' from group 1",
		},
		{
			name:   "no groups",
			mutate: func(j *api.Job) { j.TaskGroups = nil },
			want:   "1 error occurred:\n\t* Missing job task groups",
		},
		{
			name:   "space in ID and bad type",
			mutate: func(j *api.Job) { j.ID = new("my job"); j.Type = new("daemon") },
			want: "3 errors occurred:\n\t* Job ID contains a space\n\t* Invalid job type: \"daemon\"\n\t" +
				"* Task group app validation failed: 1 error occurred:\n\t* Job type \"daemon\" does not allow update block",
		},
		{
			name: "template without destination",
			mutate: func(j *api.Job) {
				j.TaskGroups[0].Tasks[0].Templates = []*api.Template{{EmbeddedTmpl: new("x")}}
			},
			want: "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task server validation failed: 1 error occurred:\n\t" +
				"* Template 1 validation failed: 1 error occurred:\n\t* Must specify a destination for the template",
		},
		{
			name:   "negative count",
			mutate: func(j *api.Job) { j.TaskGroups[0].Count = new(-1) },
			want:   "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task group count can't be negative",
		},
		{
			name:   "too little memory",
			mutate: func(j *api.Job) { j.TaskGroups[0].Tasks[0].Resources = &api.Resources{MemoryMB: new(5)} },
			want: "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task server validation failed: 1 error occurred:\n\t" +
				"* 1 error occurred:\n\t* 1 error occurred:\n\t* minimum MemoryMB value is 10; got 5",
		},
		{
			name:   "static port out of range",
			mutate: func(j *api.Job) { j.TaskGroups[0].Networks[0].ReservedPorts = []api.Port{{Label: "db", Value: 70000}} },
			want: "1 error occurred:\n\t* Task group app validation failed: 1 error occurred:\n\t* Task group network validation failed: 1 error occurred:\n\t" +
				"* Port db (70000) cannot be greater than 65535",
		},
		{
			name:   "vault without policies, and Vault not enabled",
			mutate: func(j *api.Job) { j.TaskGroups[0].Tasks[0].Vault = &api.Vault{} },
			want: "2 errors occurred:\n\t* Vault not enabled but used in the job\n\t* Task group app validation failed: 1 error occurred:\n\t" +
				"* Task server validation failed: 1 error occurred:\n\t* Vault validation failed: 1 error occurred:\n\t* Policy list cannot be empty",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := rawJob("bad", "true")
			tc.mutate(job)
			_, _, err := client.Jobs().Register(job, nil)
			if err == nil {
				t.Fatal("registered")
			}
			// Nomad answers RPC validation failures with 500 and the multierror text.
			if got := statusOf(err); got != http.StatusInternalServerError {
				t.Errorf("status %d, want 500 (%v)", got, err)
			}
			if want := "Unexpected response code: 500 (" + tc.want; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error\n%q\nwant prefix\n%q", err.Error(), want)
			}
			// A plan validates the same way.
			if _, _, err := client.Jobs().Plan(job, true, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("plan error %v", err)
			}
		})
	}

	t.Run("datacenters default to all", func(t *testing.T) {
		job := rawJob("anywhere", "exec sleep 1000")
		job.Datacenters = nil
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		got, _, err := client.Jobs().Info("anywhere", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Datacenters) != 1 || got.Datacenters[0] != "*" {
			t.Errorf("datacenters %q", got.Datacenters)
		}
	})
}

func TestRegisterHTTPErrors(t *testing.T) {
	srv, client := newDouble(t, Config{})
	post := func(path, body string) (int, string) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"unknown field", "/v1/jobs", `{"Job": {"ID": "x", "Datacenter": ["dc1"]}}`, 400, `json: unknown field "Datacenter"`},
		{"no job", "/v1/jobs", `{}`, 400, "Job must be specified"},
		{"no ID", "/v1/jobs", `{"Job": {"Name": "x"}}`, 400, "Job ID hasn't been provided"},
		{"path mismatch", "/v1/job/y", `{"Job": {"ID": "x"}}`, 400, "Job ID does not match name"},
		{"plan without ID", "/v1/job/x/plan", `{"Job": {"Name": "x"}}`, 400, "Job must have a valid ID"},
		{"not JSON", "/v1/jobs", `job "x" {}`, 400, "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %q, want %d %q", code, body, tc.code, tc.want)
			}
		})
	}

	t.Run("unknown region", func(t *testing.T) {
		_, _, err := client.Jobs().Register(rawJob("x", "true"), &api.WriteOptions{Region: "mars"})
		if err == nil || !strings.Contains(err.Error(), "No path to region") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("unknown namespace", func(t *testing.T) {
		job := rawJob("x", "true")
		job.Namespace = new("prod")
		_, _, err := client.Jobs().Register(job, nil)
		if err == nil || !strings.Contains(err.Error(), `job "x" is in nonexistent namespace "prod"`) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("missing job", func(t *testing.T) {
		_, _, err := client.Jobs().Info("nope", nil)
		if statusOf(err) != 404 || !strings.Contains(err.Error(), "job not found") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("headers", func(t *testing.T) {
		// The jobs table was never written (every register above was refused): Nomad
		// answers index 0 for it; after a register, the register's index.
		_, qm, err := client.Jobs().List(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !qm.KnownLeader || qm.LastIndex != 0 {
			t.Errorf("query meta before any job %+v", qm)
		}
		resp, _, err := client.Jobs().Register(rawJob("h", "sleep 30"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, qm, err = client.Jobs().List(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !qm.KnownLeader || qm.LastIndex < resp.JobModifyIndex {
			t.Errorf("query meta after a register at %d: %+v", resp.JobModifyIndex, qm)
		}
		leader, err := client.Status().Leader()
		if err != nil || leader == "" {
			t.Errorf("leader %q %v", leader, err)
		}
		self, err := client.Agent().Self()
		if err != nil {
			t.Fatal(err)
		}
		if v := self.Config["Version"].(map[string]any)["Version"]; v != NomadVersion {
			t.Errorf("agent version %v", v)
		}
	})
}

func TestEnforceIndex(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("cas", "exec sleep 1000")

	resp, _, err := client.Jobs().EnforceRegister(job, 0, nil)
	if err != nil {
		t.Fatalf("first register with index 0: %v", err)
	}
	first := resp.JobModifyIndex

	tests := []struct {
		name  string
		index uint64
		want  string
	}{
		{"zero when the job exists", 0, "Enforcing job modify index 0: job already exists"},
		{"stale", first - 1, "job exists with conflicting job modify index: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := client.Jobs().EnforceRegister(job, tc.index, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), api.RegisterEnforceIndexErrPrefix) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if statusOf(err) != http.StatusInternalServerError {
				t.Errorf("status %d, want Nomad's 500", statusOf(err))
			}
		})
	}
	if _, _, err := client.Jobs().EnforceRegister(rawJob("new", "true"), 7, nil); err == nil || !strings.Contains(err.Error(), "Enforcing job modify index 7: job does not exist") {
		t.Errorf("enforce on a missing job: %v", err)
	}

	// The right index is accepted; an identical job makes no new version.
	resp, _, err = client.Jobs().EnforceRegister(job, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.JobModifyIndex != first {
		t.Errorf("identical re-register moved the job modify index %d -> %d", first, resp.JobModifyIndex)
	}
	got, _, _ := client.Jobs().Info("cas", nil)
	if *got.Version != 0 {
		t.Errorf("identical re-register made version %d", *got.Version)
	}
	versions, _, _, err := client.Jobs().Versions("cas", false, nil)
	if err != nil || len(versions) != 1 {
		t.Errorf("versions %d %v", len(versions), err)
	}
	if deployments, _, err := client.Jobs().Deployments("cas", false, nil); err != nil || len(deployments) != 1 || deployments[0].Status == "cancelled" {
		t.Errorf("an identical re-register touched the deployment: %d %v", len(deployments), err)
	}

	// A change with the right index makes version 1.
	job.Meta = map[string]string{"rev": "2"}
	resp, _, err = client.Jobs().EnforceRegister(job, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.JobModifyIndex <= first {
		t.Errorf("job modify index did not move: %d", resp.JobModifyIndex)
	}
	got, _, _ = client.Jobs().Info("cas", nil)
	if *got.Version != 1 || *got.JobModifyIndex != resp.JobModifyIndex || *got.CreateIndex != first {
		t.Errorf("version %d jmi %d create %d", *got.Version, *got.JobModifyIndex, *got.CreateIndex)
	}
	if _, _, err := client.Jobs().EnforceRegister(job, first, nil); err == nil {
		t.Error("the old index was accepted after a change")
	}
	if n := srv.Registrations("cas"); n != 3 {
		t.Errorf("Registrations = %d, want 3 accepted", n)
	}
}

func fieldNamed(fields []*api.FieldDiff, name string) *api.FieldDiff {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func TestPlanDiff(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("planned", "exec sleep 1000")
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"COLOR": "red"}

	t.Run("new job", func(t *testing.T) {
		plan, _, err := client.Jobs().Plan(job, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Diff.Type != "Added" || plan.JobModifyIndex != 0 {
			t.Fatalf("diff type %q index %d", plan.Diff.Type, plan.JobModifyIndex)
		}
		tg := plan.Diff.TaskGroups[0]
		if tg.Type != "Added" || tg.Updates["create"] != 1 || len(tg.Updates) != 1 {
			t.Errorf("group %s %v", tg.Type, tg.Updates)
		}
		if f := fieldNamed(tg.Tasks[0].Fields, "Env[COLOR]"); f == nil || f.Type != "Added" || f.New != "red" {
			t.Errorf("Env[COLOR] %+v", f)
		}
		if f := fieldNamed(plan.Diff.Fields, "Type"); f == nil || f.New != "service" {
			t.Errorf("job field Type %+v", f)
		}
		if u := plan.Annotations.DesiredTGUpdates["app"]; u == nil || u.Place != 1 {
			t.Errorf("desired updates %+v", u)
		}
		if srv.Registrations("planned") != 0 || len(srv.Allocations("planned")) != 0 {
			t.Error("planning changed something")
		}
	})

	resp, _, err := client.Jobs().Register(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitAlloc(t, srv, "planned", 10*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })

	t.Run("unchanged", func(t *testing.T) {
		plan, _, err := client.Jobs().Plan(job, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Diff.Type != "None" || plan.JobModifyIndex != resp.JobModifyIndex {
			t.Fatalf("diff type %q index %d", plan.Diff.Type, plan.JobModifyIndex)
		}
		if tg := plan.Diff.TaskGroups[0]; tg.Type != "None" || tg.Updates["ignore"] != 1 {
			t.Errorf("group %s %v", tg.Type, tg.Updates)
		}
	})

	tests := []struct {
		name      string
		mutate    func(j *api.Job)
		groupType string
		updates   map[string]uint64
		check     func(t *testing.T, d *api.JobDiff)
	}{
		{
			name:      "env var",
			mutate:    func(j *api.Job) { j.TaskGroups[0].Tasks[0].Env["COLOR"] = "blue" },
			groupType: "Edited",
			updates:   map[string]uint64{"create/destroy update": 1},
			check: func(t *testing.T, d *api.JobDiff) {
				task := d.TaskGroups[0].Tasks[0]
				f := fieldNamed(task.Fields, "Env[COLOR]")
				if f == nil || f.Type != "Edited" || f.Old != "red" || f.New != "blue" {
					t.Errorf("Env[COLOR] %+v", f)
				}
				if len(task.Annotations) != 1 || task.Annotations[0] != "forces create/destroy update" {
					t.Errorf("task annotations %q", task.Annotations)
				}
			},
		},
		{
			name:      "count",
			mutate:    func(j *api.Job) { j.TaskGroups[0].Count = new(2) },
			groupType: "Edited",
			updates:   map[string]uint64{"create": 1, "in-place update": 1},
			check: func(t *testing.T, d *api.JobDiff) {
				f := fieldNamed(d.TaskGroups[0].Fields, "Count")
				if f == nil || f.Type != "Edited" || f.Old != "1" || f.New != "2" || len(f.Annotations) != 1 || f.Annotations[0] != "forces create" {
					t.Errorf("Count %+v", f)
				}
			},
		},
		{
			name:      "command argument",
			mutate:    func(j *api.Job) { j.TaskGroups[0].Tasks[0].Config["args"] = []string{"-c", "exec sleep 999"} },
			groupType: "Edited",
			updates:   map[string]uint64{"create/destroy update": 1},
			check: func(t *testing.T, d *api.JobDiff) {
				var cfg *api.ObjectDiff
				for _, o := range d.TaskGroups[0].Tasks[0].Objects {
					if o.Name == "Config" {
						cfg = o
					}
				}
				if cfg == nil {
					t.Fatal("no Config object")
				}
				if f := fieldNamed(cfg.Fields, "args[1]"); f == nil || f.Type != "Edited" || f.New != "exec sleep 999" {
					t.Errorf("args[1] %+v", f)
				}
			},
		},
		{
			// Job meta reaches the tasks' environment, so it replaces them, though the
			// group itself is unchanged.
			name:      "job meta",
			mutate:    func(j *api.Job) { j.Meta = map[string]string{"owner": "ops"} },
			groupType: "None",
			updates:   map[string]uint64{"create/destroy update": 1},
			check: func(t *testing.T, d *api.JobDiff) {
				if f := fieldNamed(d.Fields, "Meta[owner]"); f == nil || f.Type != "Added" || f.New != "ops" {
					t.Errorf("Meta[owner] %+v", f)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changed := copyJob(job)
			tc.mutate(changed)
			plan, _, err := client.Jobs().Plan(changed, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Diff.Type != "Edited" || plan.Diff.TaskGroups[0].Type != tc.groupType {
				t.Fatalf("diff %q group %q", plan.Diff.Type, plan.Diff.TaskGroups[0].Type)
			}
			if got := plan.Diff.TaskGroups[0].Updates; len(got) != len(tc.updates) {
				t.Errorf("updates %v, want %v", got, tc.updates)
			} else {
				for k, v := range tc.updates {
					if got[k] != v {
						t.Errorf("updates %v, want %v", got, tc.updates)
					}
				}
			}
			tc.check(t, plan.Diff)
		})
	}
}

func TestUnavailableDriver(t *testing.T) {
	dockerJob := func(id string) *api.Job {
		job := rawJob(id, "")
		job.TaskGroups[0].Tasks[0].Driver = "docker"
		job.TaskGroups[0].Tasks[0].Config = map[string]any{"image": "hashicorp/postgres-nomad-demo:latest"}
		return job
	}

	t.Run("missing", func(t *testing.T) {
		srv, client := newDouble(t, Config{})
		job := dockerJob("db")
		plan, _, err := client.Jobs().Plan(job, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := plan.FailedTGAllocs["app"]
		if m == nil || m.ConstraintFiltered["missing drivers"] != 1 || m.NodesEvaluated != 1 || m.NodesFiltered != 1 {
			t.Fatalf("plan failed allocs %+v", m)
		}
		if plan.Diff.TaskGroups[0].Updates["create"] != 1 {
			t.Errorf("updates %v", plan.Diff.TaskGroups[0].Updates)
		}

		resp, _, err := client.Jobs().Register(job, nil)
		if err != nil {
			t.Fatal(err)
		}
		eval, _, err := client.Evaluations().Info(resp.EvalID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if eval.Status != "complete" || eval.FailedTGAllocs["app"] == nil || eval.FailedTGAllocs["app"].ConstraintFiltered["missing drivers"] != 1 || eval.BlockedEval == "" {
			t.Errorf("eval %s failed=%+v blocked=%q", eval.Status, eval.FailedTGAllocs, eval.BlockedEval)
		}
		if n := len(srv.Allocations("db")); n != 0 {
			t.Errorf("%d allocations for an unplaceable job", n)
		}
		got, _, _ := client.Jobs().Info("db", nil)
		if *got.Status != "pending" {
			t.Errorf("job status %q", *got.Status)
		}
		sum, _, err := client.Jobs().Summary("db", nil)
		if err != nil || sum.Summary["app"].Queued != 1 {
			t.Errorf("summary %+v %v", sum, err)
		}
	})

	t.Run("simulated", func(t *testing.T) {
		srv, client := newDouble(t, Config{SimulateDrivers: []string{"docker"}})
		job := dockerJob("db")
		plan, _, err := client.Jobs().Plan(job, true, nil)
		if err != nil || len(plan.FailedTGAllocs) != 0 {
			t.Fatalf("plan %+v %v", plan.FailedTGAllocs, err)
		}
		if _, _, err := client.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, srv, "db", 10*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
		if !hasEvent(a, "server", "Started", "Task started by client") {
			t.Errorf("events %q", taskEvents(a, "server"))
		}
	})
}

func TestStaticPortCollision(t *testing.T) {
	_, client := newDouble(t, Config{})
	job := rawJob("one", "exec sleep 1000")
	job.TaskGroups[0].Networks = []*api.NetworkResource{{ReservedPorts: []api.Port{{Label: "db", Value: 25432}}}}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	other := rawJob("two", "exec sleep 1000")
	other.TaskGroups[0].Networks = job.TaskGroups[0].Networks
	plan, _, err := client.Jobs().Plan(other, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := plan.FailedTGAllocs["app"]
	if m == nil || m.NodesExhausted != 1 || m.DimensionExhausted["network: reserved port collision db=25432"] != 1 {
		t.Errorf("failed allocs %+v", m)
	}
	// The job holding the port can still be updated destructively: its own port frees up.
	job.TaskGroups[0].Tasks[0].Env = map[string]string{"V": "2"}
	plan, _, err = client.Jobs().Plan(job, false, nil)
	if err != nil || len(plan.FailedTGAllocs) != 0 {
		t.Errorf("destructive update of the port holder: %+v %v", plan.FailedTGAllocs, err)
	}
}

// Nomad 1.6's mux answered an unclean path with 301, which clients follow with a GET:
// a PUT to /v1/job//scale becomes a read of the job "scale".
func TestUncleanPathRedirect(t *testing.T) {
	srv, _ := newDouble(t, Config{})
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/job//scale", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || resp.Request.Method != http.MethodGet || resp.Request.URL.Path != "/v1/job/scale" || !strings.Contains(string(b), "job not found") {
		t.Errorf("%s %s %s: %s", resp.Status, resp.Request.Method, resp.Request.URL.Path, b)
	}
}
