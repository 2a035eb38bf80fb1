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

// TestGuidePlanGolden pins `nvrun --plan scripts/guide.star` with no server reachable.
func TestGuidePlanGolden(t *testing.T) {
	for _, c := range []struct{ golden, flag string }{{"guide.plan.txt", ""}, {"guide.plan.json", "--json"}} {
		args := []string{"--plan"}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		res := nvrun(t, nil, noServers, append(args, "scripts/guide.star")...)
		if res.code != 0 {
			t.Fatalf("exit %d:\n%s", res.code, res.stderr)
		}
		golden.Check(t, c.golden, res.stdout)
		if strings.Contains(res.stdout+res.stderr, "postgres123") {
			t.Fatal("the demo DB password leaked into the plan")
		}
	}
}
