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
	samples, err := interleave(e.rounds, []contender{
		{"nvrun --version", func() error { return runCmd(e.root, env, e.nvrun, "--version") }},
		{"nvrun --plan scripts/guide.star", func() error { return runCmd(e.root, env, e.nvrun, "--plan", "scripts/guide.star") }},
	})
	if err != nil {
		return err
	}
	report(samples, []string{"nvrun --version", "nvrun --plan scripts/guide.star"}, "nvrun --version")
	fmt.Printf("(%d rounds; target: plan <= 3x --version)\n", e.rounds)
	return nil
}
