// Command bench compares nvrun with its alternatives side by side: each scenario runs its
// contenders interleaved, round after round, against the same servers, and reports
// medians and ratios (absolute times on a shared machine are noise; ratios are not).
//
//	go run ./bench                  all scenarios (make bench)
//	go run ./bench -scenario guide  one scenario
//	go run ./bench -rounds 3        fewer rounds, for a quick look
//
// It is `make bench`, never part of `make test`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"
)

type scenario struct {
	name string
	doc  string
	run  func(ctx context.Context, env *benchEnv) error
}

var scenarios = []scenario{
	{"guide", "the guide's Vault steps (1-6, 9-13): nvrun vs the vault CLI vs a raw HTTP replay", guide},
	{"plan", "offline plan of scripts/guide.star against nvrun --version (process start)", offlinePlan},
	{"scale", "N policies and N token roles: apply, live plan, request counts, peak RSS", scale},
}

func main() {
	only := flag.String("scenario", "", "run only this scenario ("+names()+")")
	rounds := flag.Int("rounds", 0, "rounds per scenario (each contender runs once per round); 0: each scenario's default")
	flag.Parse()
	if *only != "" && !strings.Contains(", "+names()+", ", ", "+*only+", ") {
		fmt.Fprintf(os.Stderr, "bench: no scenario %q (%s)\n", *only, names())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	env, err := newBenchEnv(*rounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("machine: %s\n\n", env.machine)
	for _, s := range scenarios {
		if *only != "" && s.name != *only {
			continue
		}
		fmt.Printf("## %s: %s\n", s.name, s.doc)
		if err := s.run(ctx, env); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			env.close()
			os.Exit(1)
		}
		fmt.Println()
	}
	env.close()
	fmt.Printf("bench wall time: %s (including building nvrun and starting every server)\n", time.Since(start).Round(time.Second))
}

func names() string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}
