package nomad

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

func buildJob(t *testing.T, src string) *spec[api.Job] {
	t.Helper()
	g, err := execBuilders(t, src)
	if err != nil {
		t.Fatal(err)
	}
	js, ok := g["job"].(*spec[api.Job])
	if !ok {
		t.Fatalf("job is %T", g["job"])
	}
	return js
}

func TestGuideJobsMapToAPI(t *testing.T) {
	g, err := execBuilders(t, guideVars+guideJobs)
	if err != nil {
		t.Fatal(err)
	}
	db := g["db_job"].(*spec[api.Job]).v
	if *db.ID != "postgres-nomad-demo" || *db.Type != "service" || !reflect.DeepEqual(db.Datacenters, []string{"dc1"}) ||
		*db.Namespace != "default" || *db.Region != "global" {
		t.Errorf("db job header: %+v", db)
	}
	grp := db.TaskGroups[0]
	if *grp.Name != "db" || *grp.Count != 1 {
		t.Errorf("group: name %q count %d", *grp.Name, *grp.Count)
	}
	if want := []api.Port{{Label: "db", Value: 5432, To: 5432}}; !reflect.DeepEqual(grp.Networks[0].ReservedPorts, want) || grp.Networks[0].DynamicPorts != nil {
		t.Errorf("db ports: %+v", grp.Networks[0])
	}
	task := grp.Tasks[0]
	if task.Name != "server" || task.Driver != "docker" || task.Config["image"] != "hashicorp/postgres-nomad-demo:latest" {
		t.Errorf("task: %+v", task)
	}
	svc := task.Services[0]
	if svc.Name != "database" || svc.PortLabel != "db" || len(svc.Checks) != 1 ||
		svc.Checks[0].Type != "tcp" || svc.Checks[0].Interval != 2*time.Second || svc.Checks[0].Timeout != 2*time.Second {
		t.Errorf("service: %+v", svc)
	}

	web := g["web_job"].(*spec[api.Job]).v
	wt := web.TaskGroups[0].Tasks[0]
	if want := []api.Port{{Label: "http", To: 8080}}; !reflect.DeepEqual(web.TaskGroups[0].Networks[0].DynamicPorts, want) {
		t.Errorf("web ports: %+v", web.TaskGroups[0].Networks[0])
	}
	if !reflect.DeepEqual(wt.Vault.Policies, []string{"access-tables"}) || wt.Vault.Env != nil {
		t.Errorf("vault: %+v", wt.Vault)
	}
	if *wt.Templates[0].DestPath != "secrets/config.json" || !strings.Contains(*wt.Templates[0].EmbeddedTmpl, `secret "database/creds/accessdb"`) {
		t.Errorf("template: %+v", wt.Templates[0])
	}
	if wt.Services[0].Name != "nomad-vault-demo" || !reflect.DeepEqual(wt.Services[0].Tags, []string{"urlprefix-/"}) {
		t.Errorf("web service: %+v", wt.Services[0])
	}
	// The payload Nomad decodes strictly: it must round-trip through api.Job.
	b, err := json.Marshal(web)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var back api.Job
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
}

// TestFieldMapping checks each HCL (snake_case) field name lands in its api field.
func TestFieldMapping(t *testing.T) {
	const base = `
def mkjob(task = None, group = {}, **kw):
    t = task or nomad.task("t", driver = "raw_exec")
    return nomad.job("j", groups = [nomad.group("g", tasks = [t], **group)], **kw)
`
	tests := []struct {
		name  string
		src   string
		check func(j *api.Job) bool
	}{
		{"job fields", `job = mkjob(type = "batch", priority = 70, node_pool = "default", all_at_once = True, meta = {"owner": "ops"}, name = "J")`,
			func(j *api.Job) bool {
				return *j.Type == "batch" && *j.Priority == 70 && *j.NodePool == "default" && *j.AllAtOnce && j.Meta["owner"] == "ops" && *j.Name == "J"
			}},
		{"job update", `job = mkjob(update = {"max_parallel": 2, "min_healthy_time": "5s", "healthy_deadline": 300, "auto_revert": True, "health_check": "task_states"})`,
			func(j *api.Job) bool {
				u := j.Update
				return *u.MaxParallel == 2 && *u.MinHealthyTime == 5*time.Second && *u.HealthyDeadline == 5*time.Minute && *u.AutoRevert && *u.HealthCheck == "task_states"
			}},
		{"group count and restart", `job = mkjob(group = {"count": 3, "restart": {"attempts": 2, "interval": "30m", "delay": "15s", "mode": "fail"}, "shutdown_delay": "5s"})`,
			func(j *api.Job) bool {
				g := j.TaskGroups[0]
				r := g.RestartPolicy
				return *g.Count == 3 && *r.Attempts == 2 && *r.Interval == 30*time.Minute && *r.Delay == 15*time.Second && *r.Mode == "fail" && *g.ShutdownDelay == 5*time.Second
			}},
		{"count zero", `job = mkjob(group = {"count": 0})`, func(j *api.Job) bool { return *j.TaskGroups[0].Count == 0 }},
		{"ports", `job = mkjob(group = {"network": nomad.network(mode = "host", ports = {"a": 80, "b": None, "c": {"to": 9000}, "d": {"static": 8443, "host_network": "public"}})})`,
			func(j *api.Job) bool {
				n := j.TaskGroups[0].Networks[0]
				return n.Mode == "host" &&
					reflect.DeepEqual(n.ReservedPorts, []api.Port{{Label: "a", Value: 80}, {Label: "d", Value: 8443, HostNetwork: "public"}}) &&
					reflect.DeepEqual(n.DynamicPorts, []api.Port{{Label: "b"}, {Label: "c", To: 9000}})
			}},
		{"task fields", `job = mkjob(task = nomad.task("t", driver = "raw_exec", user = "nobody", env = {"A": "1", "B": 2, "C": True}, meta = {"m": "v"},
            config = {"command": "/bin/sleep", "args": ["60"], "nested": {"k": [1, 2]}}, kill_timeout = "20s", kill_signal = "SIGINT", leader = True,
            lifecycle = {"hook": "prestart", "sidecar": True}, restart = {"attempts": 0}, resources = nomad.resources(cpu = 100, memory = 64, memory_max = 128)))`,
			func(j *api.Job) bool {
				tk := j.TaskGroups[0].Tasks[0]
				return tk.User == "nobody" && reflect.DeepEqual(tk.Env, map[string]string{"A": "1", "B": "2", "C": "true"}) && tk.Meta["m"] == "v" &&
					tk.Config["command"] == "/bin/sleep" && reflect.DeepEqual(tk.Config["args"], []any{"60"}) &&
					reflect.DeepEqual(tk.Config["nested"], map[string]any{"k": []any{int64(1), int64(2)}}) &&
					*tk.KillTimeout == 20*time.Second && tk.KillSignal == "SIGINT" && tk.Leader &&
					tk.Lifecycle.Hook == "prestart" && tk.Lifecycle.Sidecar && *tk.RestartPolicy.Attempts == 0 &&
					*tk.Resources.CPU == 100 && *tk.Resources.MemoryMB == 64 && *tk.Resources.MemoryMaxMB == 128
			}},
		{"vault and template", `job = mkjob(task = nomad.task("t", driver = "raw_exec", vault = nomad.vault(policies = ["p"], env = False, change_mode = "signal", change_signal = "SIGHUP", namespace = "ns"),
            templates = [nomad.template(data = "x", destination = "local/x", change_mode = "noop", perms = "0600", env = True, left_delimiter = "[[", right_delimiter = "]]", splay = "5s", error_on_missing_key = True)]))`,
			func(j *api.Job) bool {
				tk := j.TaskGroups[0].Tasks[0]
				v, tm := tk.Vault, tk.Templates[0]
				return reflect.DeepEqual(v.Policies, []string{"p"}) && !*v.Env && *v.ChangeMode == "signal" && *v.ChangeSignal == "SIGHUP" && *v.Namespace == "ns" &&
					*tm.EmbeddedTmpl == "x" && *tm.DestPath == "local/x" && *tm.ChangeMode == "noop" && *tm.Perms == "0600" && *tm.Envvars &&
					*tm.LeftDelim == "[[" && *tm.RightDelim == "]]" && *tm.Splay == 5*time.Second && *tm.ErrMissingKey
			}},
		{"http check", `job = mkjob(group = {"services": [nomad.service("web", port = "http", provider = "nomad", checks = [nomad.check(type = "http", path = "/health", interval = 10, timeout = "1s", method = "GET")])]})`,
			func(j *api.Job) bool {
				s := j.TaskGroups[0].Services[0]
				c := s.Checks[0]
				return s.Provider == "nomad" && c.Type == "http" && c.Path == "/health" && c.Interval == 10*time.Second && c.Timeout == time.Second && c.Method == "GET"
			}},
		{"unset stays nil", `job = mkjob()`, func(j *api.Job) bool {
			tk := j.TaskGroups[0].Tasks[0]
			return j.Namespace == nil && j.Region == nil && j.Datacenters == nil && j.Update == nil && tk.Env == nil && tk.Config == nil && tk.Resources == nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := buildJob(t, base+tc.src)
			if !tc.check(js.v) {
				b, _ := json.MarshalIndent(js.v, "", "  ")
				t.Errorf("unexpected job:\n%s", b)
			}
		})
	}
}

// TestSpecErrors: a typo in a job spec is an error naming the field, with a did-you-mean.
func TestSpecErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`nomad.task("t", driver = "docker", evn = {})`, `nomad.task: unknown field "evn" (did you mean "env"?)`},
		{`nomad.task("t", driver = "docker", template = [])`, `nomad.task: unknown field "template" (did you mean "templates"?)`},
		{`nomad.job("j", datacenter = ["dc1"])`, `nomad.job: unknown field "datacenter" (did you mean "datacenters"?)`},
		{`nomad.group("g", tasks = [], cnt = 1)`, `nomad.group: unknown field "cnt" (did you mean "count"?)`},
		{`nomad.check(type = "tcp", intervall = "2s")`, `nomad.check: unknown field "intervall" (did you mean "interval"?)`},
		{`nomad.vault(policy = ["p"])`, `nomad.vault: unknown field "policy" (did you mean "policies"?)`},
		{`nomad.template(data = "x", dest = "y")`, `nomad.template: unknown field "dest"`},
		{`nomad.resources(memory_mb = 10)`, `nomad.resources: unknown field "memory_mb" (did you mean "memory"?)`},
		{`nomad.group("g", tasks = [nomad.task("t", driver = "x")], restart = {"atempts": 2})`, `nomad.group restart: unknown field "atempts" (did you mean "attempts"?)`},
		{`nomad.job("j", update = {"max_paralel": 2})`, `nomad.job update: unknown field "max_paralel" (did you mean "max_parallel"?)`},
		{`nomad.network(ports = {"db": {"statik": 5432}})`, `nomad.network port "db": unknown field "statik" (did you mean "static"?)`},
		{`nomad.check(type = "tpc")`, `nomad.check: field "type": "tpc" is not one of ["tcp" "http" "script" "grpc"] (did you mean "tcp"?)`},
		{`nomad.check(interval = "2 s")`, `nomad.check: field "interval": duration "2 s"`},
		{`nomad.check(type = "http")`, `nomad.check: field "path": an http check needs a path`},
		{`nomad.template(data = "x")`, `nomad.template: field "destination" is required`},
		{`nomad.template(destination = "x")`, `nomad.template: give the template's data`},
		{`nomad.task("t")`, `nomad.task: field "driver" is required`},
		{`nomad.task("t", driver = "x", env = {"A": [1]})`, `nomad.task: field "env[A]": want a string, not list`},
		{`nomad.group("g")`, `nomad.group: field "tasks": a group needs at least one nomad.task`},
		{`nomad.group("g", tasks = [nomad.vault(policies = ["p"])])`, `nomad.group: field "tasks": want nomad.task values, got nomad.vault`},
		{`nomad.job("j", groups = [nomad.group("g", tasks = [nomad.task("t", driver = "x")])] * 2)`, `two groups are named "g"`},
		{`nomad.job("")`, `nomad.job: field "id" is required`},
		{`nomad.job("j", type = "servce")`, `(did you mean "service"?)`},
		{`nomad.vault(policies = [])`, `a vault block needs at least one policy`},
		{`nomad.network(ports = {"db": 70000})`, `port "db": 70000 is not a port number`},
		{`nomad.group("g", tasks = [nomad.task("t", driver = "x")], count = -1)`, `must not be negative`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := execBuilders(t, "x = "+tc.src)
			if err == nil {
				t.Fatalf("no error for %s", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// TestSpecErrorPosition: the error of a misspelled field carries the script's file:line.
func TestSpecErrorPosition(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": "t = nomad.task(\"t\",\n    driver = \"docker\",\n    evn = {})\n"})
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true})
	if r.Err == nil {
		t.Fatal("no error")
	}
	mustContain(t, "error", r.ErrMsg, "main.star:1", `unknown field "evn" (did you mean "env"?)`)
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{2 * time.Second: "2s", 5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestNearest(t *testing.T) {
	allowed := []string{"env", "templates", "config", "driver", "vault"}
	for name, want := range map[string]string{"evn": "env", "Env": "env", "template": "templates", "confg": "config", "xyzzy": "", "drivr": "driver"} {
		if got := nearest(name, allowed); got != want {
			t.Errorf("nearest(%q) = %q, want %q", name, got, want)
		}
	}
}
