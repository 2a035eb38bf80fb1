package nomadfake

import (
	"net/http/httptest"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// stateModule is a module "state" whose nomad(...) builds a fake with FromStarlark, as
// `nvrun test`'s state.nomad does, so a script can describe jobs with nomad.job(...).
func stateModule(got **Fake, gotErr *error) runtime.Module {
	return runtime.Module{Name: "state", New: func(*runtime.Run) (starlark.Value, error) {
		return &starlarkstruct.Module{Name: "state", Members: starlark.StringDict{
			"nomad": starlark.NewBuiltin("state.nomad", func(_ *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
				*got, *gotErr = FromStarlark(kw)
				return starlark.None, nil
			}),
		}}, nil
	}}
}

func describe(t *testing.T, src string) (*Fake, error) {
	t.Helper()
	var f *Fake
	var err error
	script := runtimetest.Script(t, map[string]string{"main.star": src})
	runtimetest.Exec(t, script, runtimetest.ExecOptions{Mode: runtime.Plan, SkipPreflight: true,
		Modules: []runtime.Module{nomad.Module(nomad.Options{}), stateModule(&f, &err)}}).MustOK(t)
	if f != nil {
		t.Cleanup(f.Close)
	}
	return f, err
}

func TestFromStarlark(t *testing.T) {
	f, err := describe(t, `
state.nomad(
    jobs = [
        nomad.job("web", datacenters = ["dc1"], groups = [nomad.group("g", count = 2, tasks = [
            nomad.task("t", driver = "docker", config = {"image": "nginx"})])]),
        {"ID": "api", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [
            {"Name": "t", "Driver": "exec", "Config": {"command": "/bin/api"}}]}]},
        {"ID": "batch", "Namespace": "prod", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [
            {"Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"}}]}]},
    ],
    namespaces = ["prod"],
    agent_config = 'data_dir = "/opt/nomad"\nvault {\n  enabled = true\n  token = "s.example"\n}\n',
)`)
	if err != nil {
		t.Fatal(err)
	}
	for job, want := range map[string]int{"web": 2, "api": 1} {
		allocs := f.Server().Allocations(job)
		if len(allocs) != want {
			t.Errorf("job %s: %d allocations, want %d", job, len(allocs), want)
		}
		for _, a := range allocs {
			if a.ClientStatus != "running" {
				t.Errorf("job %s: allocation %s, want running at once", job, a.ClientStatus)
			}
		}
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/job/batch?namespace=prod", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"Namespace":"prod"`) {
		t.Errorf("job batch in namespace prod: %d %.200s", rec.Code, rec.Body)
	}
	af, err := f.Read("/etc/nomad.d/anything.hcl")
	if err != nil || !strings.Contains(string(af.Data), `token = "s.example"`) || af.Mode != 0o600 {
		t.Errorf("agent config read = %q, mode %o, %v; want the described text, 0600 (it holds a token)", af.Data, af.Mode, err)
	}
}

func TestFromStarlarkErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`state.nomad(job = [])`, `state.nomad: unknown key "job" (did you mean "jobs"?)`},
		{`state.nomad(agent_conf = "")`, `(did you mean "agent_config"?)`},
		{`state.nomad(jobs = "web")`, `state.nomad: jobs: want a list of nomad.job(...) values or job dicts, not string`},
		{`state.nomad(jobs = [nomad.task("t", driver = "docker")])`, `state.nomad: jobs[0]: want a nomad.job value, not nomad.task`},
		{`state.nomad(jobs = [{"ID": "x", "TaskGroup": []}])`, `state.nomad: jobs[0]: not a Nomad job (nomad/api JSON shape): json: unknown field "TaskGroup"`},
		{`state.nomad(jobs = [{"Name": "x"}])`, `state.nomad: jobs[0]: a job dict needs an "ID"`},
		{`state.nomad(jobs = [{"ID": "x", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": -1, "Tasks": []}]}])`, `job "x": Nomad refuses it`},
		{`state.nomad(jobs = [{"ID": "x", "Namespace": "prod", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": "x"}}]}]}])`, `job "x": Nomad refuses it`},
		{`state.nomad(namespaces = "prod")`, `state.nomad: namespaces: `},
		{`state.nomad(agent_config = 3)`, `state.nomad: agent_config: want a string (the agent config's HCL text), not int`},
		{`state.nomad(agent_config = "vault {")`, `state.nomad: the agent config: nomadtest: failed to decode HCL file`},
		{`state.nomad(agent_config_mode = "600")`, `agent_config_mode: want a file mode such as 0o600, not string`},
	} {
		_, err := describe(t, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}
