package nomad

import (
	"strings"
	"testing"

	"github.com/nvrun/nvrun/internal/golden"
	"github.com/nvrun/nvrun/runtime/runtimetest"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

func TestRenderGuideJobs(t *testing.T) {
	g, err := execBuilders(t, guideVars+guideJobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db_job", "web_job"} {
		js := g[name].(*spec[api.Job])
		golden.Check(t, name+".hcl", renderJob(js.v, js.taint))
	}
}

func TestRenderEverything(t *testing.T) {
	js := buildJob(t, `
job = nomad.job("all", type = "service", datacenters = ["dc1", "dc2"], priority = 60, meta = {"team": "db", "with.dot": "x"},
    update = {"max_parallel": 1, "min_healthy_time": "10s", "auto_revert": True},
    groups = [nomad.group("g", count = 2, shutdown_delay = "5s",
        network = nomad.network(ports = {"db": 5432, "http": None, "admin": {"to": 9000}}),
        services = [nomad.service("g-svc", port = "http", checks = [nomad.check(type = "http", path = "/", interval = "10s", timeout = "2s")])],
        restart = {"attempts": 2, "delay": "15s", "mode": "delay"},
        tasks = [nomad.task("t", driver = "docker", user = "app", kill_timeout = "30s",
            config = {"image": "x:1", "args": ["-v", "1"], "port_map": [{"db": 5432}], "auth": {"server_address": "reg"}},
            env = {"PGPORT": "5432"},
            vault = nomad.vault(policies = ["a", "b"], change_mode = "noop"),
            templates = [nomad.template(data = "single line", destination = "local/a"), nomad.template(source = "local/in.tpl", destination = "local/b", perms = "0640")],
            resources = nomad.resources(cpu = 500, memory = 256),
        )],
    )],
)
`)
	golden.Check(t, "everything.hcl", renderJob(js.v, js.taint))
}

// captured collects values a script hands to capture(), for tests that need the Go side
// of a value built with runtime features (secrets, unknowns) that only a Run provides.
type captured struct{ vals []starlark.Value }

func (c *captured) module() runtime.Module {
	return runtime.Module{Name: "capture", New: func(r *runtime.Run) (starlark.Value, error) {
		return starlark.NewBuiltin("capture", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			c.vals = append(c.vals, args...)
			return starlark.None, nil
		}), nil
	}}
}

func TestRenderRedactsSecrets(t *testing.T) {
	const canary = "CANARY-pg-pass-91x7"
	script := runtimetest.Script(t, map[string]string{"main.star": `
pw = var("pw", "` + canary + `", sensitive = True)
job = nomad.job("j", groups = [nomad.group("g", tasks = [nomad.task("t", driver = "docker",
    env = {"PGPASSWORD": pw, "PGUSER": "app"},
    config = {"image": "x", "auth": {"password": pw}, "args": ["--password=" + pw]},
)])])
capture(job)
print(job.hcl)
`})
	c := &captured{}
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true, modules: []runtime.Module{c.module()}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	js := c.vals[0].(*spec[api.Job])
	text := renderJob(js.v, js.taint)
	mustNotContain(t, "rendered job", text, canary)
	mustContain(t, "rendered job", text, "PGPASSWORD = (sensitive)", `PGUSER     = "app"`, "password = (sensitive)", "args  = [(sensitive)]")
	// The secret still reaches Nomad: it is in the api.Job.
	if js.v.TaskGroups[0].Tasks[0].Env["PGPASSWORD"] != canary {
		t.Error("the api job lost the secret's value")
	}
	mustNotContain(t, "output", r.All(), canary)
	if !strings.Contains(r.Out, "PGPASSWORD = (sensitive)") {
		t.Errorf("job.hcl not printed:\n%s", r.Out)
	}
}
