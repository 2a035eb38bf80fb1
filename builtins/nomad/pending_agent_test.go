package nomad

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// pendingAgentJob enables Vault in the agent config (a change a plan cannot apply),
// then runs a job with a vault block, whose update block is a var.
const pendingAgentJob = `
update = var("update", {"min_healthy_time": "1s", "healthy_deadline": "30s"})
nomad.agent_config(agent_config, vault = {"enabled": True, "address": "http://127.0.0.1:8200"})
nomad.run(nomad.job("vaulted", datacenters = ["dc1"], groups = [nomad.group("g", update = update,
    tasks = [nomad.task("t", driver = "raw_exec", config = {"command": "/bin/sleep", "args": ["60"]},
        vault = nomad.vault(policies = ["access-tables"]))])]))
`

// While an agent_config change is pending, a Nomad refusal that the change explains
// ("Vault not enabled but used in the job") is a note; a job Nomad refuses for other
// reasons fails the plan with Nomad's own text (issue 14).
func TestPlanWithPendingAgentConfigFailsOnInvalidJob(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	if err := os.WriteFile(cfg, []byte("data_dir = \"/opt/nomad/data\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startDouble(t, cfg, "")
	script := runtimetest.Script(t, map[string]string{"main.star": "agent_config = \"" + cfg + "\"\n" + pendingAgentJob})
	env := doubleEnv(srv)

	r := runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, `+  nomad job "vaulted"`,
		`# not planned with Nomad until nomad agent_config "`+cfg+`" is applied; Nomad said:`, "Vault not enabled but used in the job")

	r = runScript(t, script, runConfig{mode: runtime.Plan, env: env, vars: []string{`update={"min_healthy_time": "60s", "healthy_deadline": "30s"}`}})
	if r.Err == nil {
		t.Fatalf("a job Nomad refuses planned with exit 0:\n%s", r.Plan)
	}
	mustContain(t, "error", r.ErrMsg, `nomad job "vaulted": plan: Nomad said`, "Minimum healthy time must be less than healthy deadline")
	if n := srv.Registrations("vaulted"); n != 0 {
		t.Errorf("%d registrations", n)
	}
}

// A pending agent config change does not change what Nomad's jobs are: nomad.status,
// nomad.allocations and nomad.stop still read Nomad in the plan that records it.
func TestPendingAgentConfigStillReadsJobs(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	if err := os.WriteFile(cfg, []byte("data_dir = \"/opt/nomad/data\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startDouble(t, cfg, "")
	script := runtimetest.Script(t, map[string]string{"main.star": `
nomad.agent_config("` + cfg + `", vault = {"enabled": True, "address": "http://127.0.0.1:8200"})
print("status:", nomad.status("nope"), nomad.allocations("nope"))
nomad.stop("nope")
`})
	r := runScript(t, script, runConfig{mode: runtime.Plan, env: doubleEnv(srv)})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "output", r.Out, "status: None []")
	mustContain(t, "plan", r.Plan, `+  nomad agent_config "`+cfg+`"`, `=  nomad job "nope"`)
	mustNotContain(t, "plan", r.Plan, "known after apply", "Nomad was not read")
}
