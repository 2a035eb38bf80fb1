package nomad

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// startDouble starts the Nomad API double with a temp agent config (no vault block).
func startDouble(t *testing.T, agentConfig, consulAddr string) *nomadtest.Server {
	t.Helper()
	if agentConfig == "" {
		agentConfig = filepath.Join(t.TempDir(), "nomad.hcl")
		if err := os.WriteFile(agentConfig, []byte("data_dir = \"/opt/nomad/data\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := nomadtest.New(nomadtest.Config{
		AgentConfigPath: agentConfig,
		ConsulAddr:      consulAddr,
		DataDir:         t.TempDir(),
		PortRange:       nomadtest.PortRange{Min: 31000, Max: 31999},
		Logf:            t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// sleeperJob is a raw_exec job whose env is a var, so a test can change it.
const sleeperJob = `
pgport = var("pgport", "5432")
cmd = var("cmd", "/bin/sleep")
args = var("args", ["300"])
wait = var("wait", "healthy")
job = nomad.job("sleeper", datacenters = ["dc1"], groups = [nomad.group("db",
    update = {"min_healthy_time": "1s", "healthy_deadline": "30s"},
    restart = {"attempts": 0, "mode": "fail"},
    tasks = [nomad.task("server", driver = "raw_exec",
        config = {"command": cmd, "args": args},
        env = {"PGPORT": pgport},
    )],
)])
r = nomad.run(job, wait = wait if wait else None, timeout = "60s")
print("result:", r.id, r.version, len(r.allocations), [a.client_status for a in r.allocations])
`

func doubleEnv(srv *nomadtest.Server) []string {
	return []string{"NOMAD_ADDR=" + srv.URL}
}

func TestRunAgainstDouble(t *testing.T) {
	start := time.Now()
	srv := startDouble(t, "", "")
	script := runtimetest.Script(t, map[string]string{"main.star": sleeperJob})
	env := doubleEnv(srv)
	fast := Options{PollInterval: 100 * time.Millisecond}

	// A new job: the plan is Nomad's ("1 create"), with the job as HCL.
	r := runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, `+  nomad job "sleeper"`, "1 group, 1 task (nomad plan: 1 create)", `# job "sleeper" {`, `PGPORT = "5432"`)
	if n := srv.Registrations("sleeper"); n != 0 {
		t.Fatalf("plan registered %d times", n)
	}

	// Apply: registered once, waited until healthy.
	r = runScript(t, script, runConfig{mode: runtime.Apply, env: env, opts: fast})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "apply", r.Out, "result: sleeper 0 1 [\"running\"]")
	if n := srv.Registrations("sleeper"); n != 1 {
		t.Fatalf("registrations = %d, want 1", n)
	}

	// Unchanged: plan and apply write nothing.
	for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
		r = runScript(t, script, runConfig{mode: mode, env: env, opts: fast})
		if r.Err != nil {
			t.Fatal(r.ErrMsg)
		}
		if s := r.Res.Summary(); s.Unchanged != 1 || s.Create+s.Update != 0 {
			t.Errorf("%s of an unchanged job: %+v\n%s", mode, s, r.Plan)
		}
	}
	mustContain(t, "unchanged apply", r.Out, "result: sleeper 0 1")
	if n := srv.Registrations("sleeper"); n != 1 {
		t.Fatalf("an unchanged job was registered again: %d registrations", n)
	}

	// Changed: Nomad's diff, flattened; apply makes version 1.
	vars := []string{"pgport=5433"}
	r = runScript(t, script, runConfig{mode: runtime.Plan, env: env, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, `~  nomad job "sleeper"`, `~ group "db" task "server" env[PGPORT]: "5432" -> "5433"`, "(nomad plan: 1 create/destroy update)")
	r = runScript(t, script, runConfig{mode: runtime.Apply, env: env, vars: vars, opts: fast})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "apply", r.Out, "result: sleeper 1 1 [\"running\"]")
	if n := srv.Registrations("sleeper"); n != 2 {
		t.Fatalf("registrations = %d, want 2", n)
	}
	t.Logf("new, unchanged and changed job: %s", time.Since(start).Round(time.Millisecond))
}

// Somebody changes the job between nvrun's plan and its register: the register, which
// enforces the plan's modify index, is refused, and nothing of ours is written.
func TestRunRefusesJobChangedSincePlan(t *testing.T) {
	srv := startDouble(t, "", "")
	script := runtimetest.Script(t, map[string]string{"main.star": sleeperJob})
	env := doubleEnv(srv)
	fast := Options{PollInterval: 100 * time.Millisecond}
	if r := runScript(t, script, runConfig{mode: runtime.Apply, env: env, opts: fast, vars: []string{"wait=running"}}); r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	meddle := Options{PollInterval: 100 * time.Millisecond, BeforeRegister: func(ctx context.Context, c *api.Client, id string) error {
		job, _, err := c.Jobs().Info(id, nil)
		if err != nil {
			return err
		}
		job.Meta = map[string]string{"changed-by": "someone else"}
		_, _, err = c.Jobs().Register(job, nil)
		return err
	}}
	r := runScript(t, script, runConfig{mode: runtime.Apply, env: env, opts: meddle, vars: []string{"pgport=6000"}})
	if r.Err == nil {
		t.Fatal("the register was not refused")
	}
	mustContain(t, "error", r.ErrMsg, `nomad job "sleeper": job changed since plan: Nomad refused to register over job modify index`)
	if n := srv.Registrations("sleeper"); n != 2 { // ours, then the meddler's
		t.Errorf("registrations = %d, want 2", n)
	}
	// A new job that appears between plan and register is refused the same way.
	script2 := runtimetest.Script(t, map[string]string{"main.star": strings.Replace(sleeperJob, `"sleeper"`, `"fresh"`, 1)})
	race := Options{BeforeRegister: func(ctx context.Context, c *api.Client, id string) error {
		job, _, err := c.Jobs().Info("sleeper", nil)
		if err != nil {
			return err
		}
		job.ID, job.Name = &id, &id
		_, _, err = c.Jobs().Register(job, nil)
		return err
	}}
	r = runScript(t, script2, runConfig{mode: runtime.Apply, env: env, opts: race})
	if r.Err == nil {
		t.Fatal("the register of a job created meanwhile was not refused")
	}
	mustContain(t, "error", r.ErrMsg, "job changed since plan")
}

// A task that fails: the error carries the allocation's task events.
func TestRunShowsFailingTaskEvents(t *testing.T) {
	srv := startDouble(t, "", "")
	script := runtimetest.Script(t, map[string]string{"main.star": sleeperJob})
	r := runScript(t, script, runConfig{mode: runtime.Apply, env: doubleEnv(srv), opts: Options{PollInterval: 100 * time.Millisecond},
		vars: []string{"cmd=/bin/sh", `args=["-c", "echo boom >&2; exit 3"]`}})
	if r.Err == nil {
		t.Fatal("no error")
	}
	mustContain(t, "error", r.ErrMsg, `nomad job "sleeper"`, "(group \"db\") failed", `task "server" (dead, failed)`, "Exit Code: 3")
}

func TestStopStatusAllocations(t *testing.T) {
	srv := startDouble(t, "", "")
	env := doubleEnv(srv)
	fast := Options{PollInterval: 100 * time.Millisecond}
	if r := runScript(t, runtimetest.Script(t, map[string]string{"main.star": sleeperJob}), runConfig{mode: runtime.Apply, env: env, opts: fast, vars: []string{"wait=running"}}); r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	script := runtimetest.Script(t, map[string]string{"main.star": `
s = nomad.status("sleeper")
print("status:", s.id, s.type, s.version, s.stop, s.groups["db"].count)
print("missing:", nomad.status("nope"), nomad.allocations("nope"))
a = nomad.allocations("sleeper")
print("allocs:", len(a), a[0].group, a[0].job_version, a[0].task_states["server"].state, [e.type for e in a[0].task_states["server"].events][:1])
nomad.stop("sleeper")
nomad.stop("nope")
`})
	r := runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Out, "status: sleeper service 0 False 1", "missing: None []", `allocs: 1 db 0 running ["Received"]`)
	mustContain(t, "plan", r.Plan, `-  nomad job "sleeper"`, `- status: "running" (version 0)`, `=  nomad job "nope"`)
	r = runScript(t, script, runConfig{mode: runtime.Apply, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	r = runScript(t, runtimetest.Script(t, map[string]string{"main.star": `nomad.stop("sleeper")
nomad.stop("sleeper", purge = True)
print(nomad.status("sleeper"))`}), runConfig{mode: runtime.Apply, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if s := r.Res.Summary(); s.Unchanged != 1 || s.Delete != 1 {
		t.Errorf("summary %+v", s)
	}
	mustContain(t, "output", r.Out, "None")
}

// The guide's own jobs (docker, as in the guide) pass the double's strict validation
// and scheduling: Nomad's plan places both, with no placement failure noted.
func TestGuideJobsPlanInDouble(t *testing.T) {
	// A real Vault, for the node's vault fingerprint that the web job's implied
	// constraint (${attr.vault.version} semver >= 0.6.1) needs.
	vaultAddr, _ := SharedVault(t)
	agentConfig := filepath.Join(t.TempDir(), "nomad.hcl")
	if err := os.WriteFile(agentConfig, []byte("vault {\n  enabled = true\n  address = \""+vaultAddr+"\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: agentConfig, DataDir: t.TempDir(), SimulateDrivers: []string{"docker"}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	script := runtimetest.Script(t, map[string]string{"main.star": guideVars + guideJobs + "\nnomad.run(db_job)\nnomad.run(web_job)\n"})
	r := runScript(t, script, runConfig{mode: runtime.Plan, env: doubleEnv(srv)})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan,
		`+  nomad job "postgres-nomad-demo"                1 group, 1 task (nomad plan: 1 create)`,
		`+  nomad job "nomad-vault-demo"                   1 group, 1 task (nomad plan: 1 create)`,
		"# template reads database/creds/accessdb: check skipped")
	mustNotContain(t, "plan", r.Plan, "would not be placed", "nomad warning")
}
