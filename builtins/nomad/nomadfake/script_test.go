package nomadfake

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// seedJob registers the starting job: the same job in scriptJob with PORT=80.
const seedJob = `
job = nomad.job("web", datacenters = ["dc1"], groups = [nomad.group("g",
    update = {"min_healthy_time": "1s", "healthy_deadline": "30s"},
    tasks = [nomad.task("t", driver = "raw_exec",
        config = {"command": "/bin/sleep", "args": ["300"]},
        env = {"PORT": "80"},
    )],
)])
nomad.run(job, timeout = "60s")
`

// scriptJob is a small script: an agent config's vault block (with on_change) and a
// job run, as the guide does them.
const scriptJob = `
cfg = nomad.agent_config(var("cfg"), vault = {"enabled": True, "address": "http://127.0.0.1:8200"}, on_change = ["systemctl", "restart", "nomad"])
job = nomad.job("web", datacenters = ["dc1"], groups = [nomad.group("g",
    update = {"min_healthy_time": "1s", "healthy_deadline": "30s"},
    tasks = [nomad.task("t", driver = "raw_exec",
        config = {"command": "/bin/sleep", "args": ["300"]},
        env = {"PORT": var("port", "80")},
    )],
)])
r = nomad.run(job, timeout = "60s")
print("run:", r.id, r.version)
`

// startingAgentConfig is the agent config both sides start from.
const startingAgentConfig = "data_dir = \"/opt/nomad/data\"\n\nvault {\n  enabled = false\n}\n"

func runNomad(t *testing.T, mode runtime.Mode, script string, env, vars []string, opts nomad.Options) runtimetest.Result {
	t.Helper()
	return runtimetest.Exec(t, script, runtimetest.ExecOptions{
		Mode: mode, SkipPreflight: true, Environ: env, Vars: vars,
		Modules: []runtime.Module{nomad.Module(opts)}, Timeout: 2 * time.Minute,
	})
}

func fakeOptions(f *Fake) nomad.Options {
	return nomad.Options{
		PollInterval:  10 * time.Millisecond,
		WrapTransport: func(http.RoundTripper) http.RoundTripper { return fakenet.Transport(f) },
		AgentFiles:    f,
	}
}

// TestPlanEqualsTheDouble: the same script planned against the Nomad double (a real
// file, a listening server) and against the fake (the same starting state: the job the
// double holds, the same agent config text) prints the same plan, byte for byte.
func TestPlanEqualsTheDouble(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "nomad.hcl")
	if err := os.WriteFile(cfgPath, []byte(startingAgentConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: cfgPath, DataDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env := []string{"NOMAD_ADDR=" + srv.URL}
	seed := runtimetest.Script(t, map[string]string{"main.star": seedJob})
	runNomad(t, runtime.Apply, seed, env, nil, nomad.Options{PollInterval: 50 * time.Millisecond}).MustOK(t)

	// The fake starts from the job as the double holds it, and the same agent config.
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := c.Jobs().Info("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	text := startingAgentConfig
	f, err := New(Options{Jobs: []*api.Job{job}, AgentConfig: &text, AgentConfigMode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)

	script := runtimetest.Script(t, map[string]string{"main.star": scriptJob})
	vars := []string{"cfg=" + cfgPath, "port=8080"}
	real := runNomad(t, runtime.Plan, script, env, vars, nomad.Options{}).MustOK(t)
	fake := runNomad(t, runtime.Plan, script, env, vars, fakeOptions(f)).MustOK(t)
	if real.Plan != fake.Plan {
		t.Errorf("the plans differ\n--- against the double ---\n%s\n--- against the fake ---\n%s", real.Plan, fake.Plan)
	}
	for _, want := range []string{`nomad agent_config`, `PORT`, "8080"} {
		if !strings.Contains(fake.Plan, want) {
			t.Errorf("the plan lacks %q:\n%s", want, fake.Plan)
		}
	}
	t.Logf("plan (both):\n%s", fake.Plan)
}

// TestApplyUpdatesTheFake: an apply against the fake writes the agent config where the
// script names it, records on_change (the agent reloads the written config, as after
// a restart), registers the job, and a second plan is all unchanged.
func TestApplyUpdatesTheFake(t *testing.T) {
	text := startingAgentConfig
	f, err := New(Options{AgentConfig: &text})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	script := runtimetest.Script(t, map[string]string{"main.star": scriptJob})
	vars := []string{"cfg=/etc/nomad.d/nomad.hcl"}
	env := []string{"NOMAD_ADDR=http://nomad.example:4646"}

	a := runNomad(t, runtime.Apply, script, env, vars, fakeOptions(f)).MustOK(t)
	if !strings.Contains(a.Out, "run: web 0") {
		t.Errorf("apply printed %q, want the job at version 0", a.Out)
	}
	got, ok := f.AgentConfig("/etc/nomad.d/nomad.hcl")
	if !ok || !strings.Contains(got, `address = "http://127.0.0.1:8200"`) || !strings.Contains(got, `data_dir = "/opt/nomad/data"`) {
		t.Errorf("agent config after apply:\n%s", got)
	}
	if oc := f.OnChange(); len(oc) != 1 || strings.Join(oc[0], " ") != "systemctl restart nomad" {
		t.Errorf("on_change recorded %q, want one systemctl restart nomad", oc)
	}
	if allocs := f.Server().Allocations("web"); len(allocs) != 1 || allocs[0].ClientStatus != "running" {
		t.Errorf("allocations after apply: %d, want 1 running", len(allocs))
	}

	again := runNomad(t, runtime.Plan, script, env, vars, fakeOptions(f)).MustOK(t)
	if again.Res.Changes() {
		t.Errorf("a second plan has changes:\n%s", again.Plan)
	}
	if len(f.OnChange()) != 1 {
		t.Errorf("a plan ran on_change")
	}
}

// tokenConfig writes a token into the agent config, which makes the file 0600.
const tokenConfig = `
cfg = var("cfg")
nomad.agent_config(cfg, vault = {"enabled": True, "address": "http://127.0.0.1:8200", "token": "s.not-a-real-token"}, on_change = [var("restart")])
print("read back:", nomad.agent_config_read(cfg).address)
`

// TestApplyWritesWhatTheDiskGets: the same apply against a real file and against the
// fake leaves the same text and mode, and runs (or records) on_change once.
func TestApplyWritesWhatTheDiskGets(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "nomad.hcl")
	if err := os.WriteFile(cfgPath, []byte(startingAgentConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	text := startingAgentConfig
	f, err := New(Options{AgentConfig: &text, AgentConfigMode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	script := runtimetest.Script(t, map[string]string{"main.star": tokenConfig})
	vars := []string{"cfg=" + cfgPath, "restart=true"} // /bin/true on the disk; recorded by the fake
	real := runNomad(t, runtime.Apply, script, nil, vars, nomad.Options{}).MustOK(t)
	fake := runNomad(t, runtime.Apply, script, nil, vars, fakeOptions(f)).MustOK(t)
	// The progress lines carry how long each write took.
	took := regexp.MustCompile(`done \([^)]*\)`)
	if took.ReplaceAllString(real.Out+real.Plan, "done") != took.ReplaceAllString(fake.Out+fake.Plan, "done") {
		t.Errorf("the applies differ\n--- disk ---\n%s%s\n--- fake ---\n%s%s", real.Out, real.Plan, fake.Out, fake.Plan)
	}
	disk, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(cfgPath)
	af, err := f.Read(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(af.Data) != string(disk) || af.Mode != st.Mode().Perm() || af.Mode != 0o600 {
		t.Errorf("the fake holds %q (mode %o), the disk %q (mode %o)", af.Data, af.Mode, disk, st.Mode().Perm())
	}
	if oc := f.OnChange(); len(oc) != 1 || oc[0][0] != "true" {
		t.Errorf("on_change recorded %q, want [true] once", oc)
	}
	if strings.Contains(real.All()+fake.All(), "s.not-a-real-token") {
		t.Errorf("the token leaked into the output")
	}
}
