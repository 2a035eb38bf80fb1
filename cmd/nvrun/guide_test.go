package main

import (
	"strings"
	"testing"

	"github.com/nvrun/nvrun/internal/golden"
)

// noServers is an environment in which every server address is a closed loopback port,
// so the plan must be the complete offline one whatever runs on the machine.
var noServers = []string{
	"VAULT_ADDR=http://127.0.0.1:1",
	"CONSUL_HTTP_ADDR=127.0.0.1:1",
	"NOMAD_ADDR=http://127.0.0.1:1",
	"HOME=/nonexistent",
}

// TestGuidePlanGolden pins `nvrun --plan scripts/guide.star` with no server reachable,
// and the same for scripts/workload-identity.star, which shares its database steps.
func TestGuidePlanGolden(t *testing.T) {
	for _, script := range []struct{ path, golden string }{{"scripts/guide.star", "guide"}, {"scripts/workload-identity.star", "workload-identity"}} {
		for _, c := range []struct{ ext, flag string }{{".plan.txt", ""}, {".plan.json", "--json"}} {
			args := []string{"--plan"}
			if c.flag != "" {
				args = append(args, c.flag)
			}
			res := nvrun(t, nil, noServers, append(args, script.path)...)
			if res.code != 0 {
				t.Fatalf("%s: exit %d:\n%s", script.path, res.code, res.stderr)
			}
			golden.Check(t, script.golden+c.ext, res.stdout)
			if strings.Contains(res.stdout+res.stderr, "postgres123") {
				t.Fatalf("%s: the demo DB password leaked into the plan", script.path)
			}
		}
	}
}
