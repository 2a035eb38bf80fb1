package nomad

import (
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
)

// Nomad unreachable: a live plan warns once and plans as offline; an apply fails.
func TestNomadUnreachable(t *testing.T) {
	script := writeScript(t, map[string]string{"main.star": `
job = nomad.job("j", groups = [nomad.group("g", tasks = [nomad.task("t", driver = "raw_exec", config = {"command": "/bin/true"})])])
print("status:", nomad.status("j"))
nomad.run(job)
nomad.stop("other")
`})
	env := []string{"NOMAD_ADDR=" + closedAddr(t), "NOMAD_TOKEN=s3cr3t-nomad-server-token"}

	r := runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.err != nil {
		t.Fatal(r.errMsg)
	}
	if len(r.res.Warnings) != 1 || !strings.Contains(r.res.Warnings[0], "cannot reach Nomad at http://127.0.0.1:") {
		t.Errorf("warnings: %q", r.res.Warnings)
	}
	mustContain(t, "output", r.out, "status: (known after apply: nomad.status")
	mustContain(t, "plan", r.plan, `+  nomad job "j"`, `-  nomad job "other"`, "# Nomad was not read: the job may not exist", "1 known only after apply")
	mustNotContain(t, "output", r.all(), "s3cr3t-nomad-server-token")

	start := time.Now()
	r = runScript(t, script, runConfig{mode: runtime.Apply, env: env, opts: Options{ReachWait: 300 * time.Millisecond}})
	if r.err == nil {
		t.Fatal("apply did not fail")
	}
	mustContain(t, "error", r.errMsg, "nomad.status: cannot reach Nomad at http://127.0.0.1:", "connection refused")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("gave up after %s, before ReachWait", d)
	}
	mustNotContain(t, "output", r.all(), "s3cr3t-nomad-server-token")
}
