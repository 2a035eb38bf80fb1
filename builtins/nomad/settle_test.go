package nomad

import (
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// An unchanged job is not done until its current version is healthy: a run interrupted
// after the register (here: a register with wait=None) leaves a job that the next
// nomad.run(wait="healthy") must wait for, or fail on, without registering it again.
func TestUnchangedJobSettles(t *testing.T) {
	cases := []struct {
		name    string
		vars    []string
		wantErr []string // empty: the run waits and succeeds
	}{
		{name: "starting: waited for until healthy"},
		{
			name: "failed: a clear error with the task's events",
			vars: []string{"cmd=/bin/false", "args=[]"},
			wantErr: []string{`nomad job "sleeper"`, "registered as asked (version 0), but not healthy",
				`task "server" (dead, failed)`, "Terminated: Exit Code: 1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startDouble(t, "", "")
			script := runtimetest.Script(t, map[string]string{"main.star": sleeperJob})
			cfg := runConfig{mode: runtime.Apply, env: doubleEnv(srv), opts: Options{PollInterval: 100 * time.Millisecond}}
			cfg.vars = append(c.vars, "wait=")
			if r := runScript(t, script, cfg); r.Err != nil {
				t.Fatalf("register without waiting: %s", r.ErrMsg)
			}

			cfg.vars = c.vars
			r := runScript(t, script, cfg)
			if n := srv.Registrations("sleeper"); n != 1 {
				t.Errorf("the unchanged job was registered again (%d registrations)", n)
			}
			if len(c.wantErr) > 0 {
				if r.Err == nil {
					t.Fatalf("an unchanged job whose allocation failed passed:\n%s", r.Out)
				}
				mustContain(t, "error", r.ErrMsg, c.wantErr...)
				return
			}
			if r.Err != nil {
				t.Fatal(r.ErrMsg)
			}
			mustContain(t, "progress", r.Out, `= nomad job "sleeper"`, "result: sleeper 0 1")
			for _, a := range srv.Allocations("sleeper") {
				if a.DeploymentStatus == nil || a.DeploymentStatus.Healthy == nil || !*a.DeploymentStatus.Healthy {
					t.Errorf("allocation %s is not healthy after the run returned: %+v", a.ID, a.DeploymentStatus)
				}
			}
		})
	}
}
