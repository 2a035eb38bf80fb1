package main

import (
	"context"
	"fmt"
	"os"
)

// offlinePlan times `nvrun --plan scripts/guide.star` with no server reachable against
// `nvrun --version`, which is the cost of starting the process at all.
func offlinePlan(ctx context.Context, e *benchEnv) error {
	env := append(os.Environ(), "VAULT_ADDR=http://127.0.0.1:1", "CONSUL_HTTP_ADDR=127.0.0.1:1", "NOMAD_ADDR=http://127.0.0.1:1")
	rounds := e.roundsOr(15)
	samples, err := interleave(rounds, []contender{
		{name: "nvrun --version", run: func() error { return runCmd(e.root, env, e.nvrun, "--version") }},
		{name: "nvrun --plan scripts/guide.star", run: func() error { return runCmd(e.root, env, e.nvrun, "--plan", "scripts/guide.star") }},
	})
	if err != nil {
		return err
	}
	report(samples, []string{"nvrun --version", "nvrun --plan scripts/guide.star"}, "nvrun --version")
	r := ratio(samples, "nvrun --plan scripts/guide.star", "nvrun --version")
	fmt.Printf("\n| target | measured | verdict |\n|---|---|---|\n| offline plan <= 3x --version | %.2fx | %s |\n", r, verdict(r <= 3, fmt.Sprintf("%.0f%% over", (r/3-1)*100)))
	fmt.Printf("(%d rounds)\n", rounds)
	return nil
}
