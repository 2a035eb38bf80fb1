// Command bench compares nvrun with its alternatives side by side: each scenario runs its
// contenders interleaved, round after round, against the same servers, and reports
// medians and ratios (absolute times on a shared machine are noise; ratios are not).
//
//	go run ./bench                  all scenarios
//	go run ./bench -scenario plan   one scenario
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
)

type scenario struct {
	name string
	doc  string
	run  func(ctx context.Context, env *benchEnv) error
}

var scenarios = []scenario{
	{"plan", "offline plan of scripts/guide.star against nvrun --version (process start)", offlinePlan},
}

func main() {
	only := flag.String("scenario", "", "run only this scenario ("+names()+")")
	rounds := flag.Int("rounds", 15, "rounds per scenario (each contender runs once per round)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env, err := newBenchEnv(*rounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer env.close()
	fmt.Printf("machine: %s\n\n", env.machine)
	for _, s := range scenarios {
		if *only != "" && s.name != *only {
			continue
		}
		fmt.Printf("## %s: %s\n", s.name, s.doc)
		if err := s.run(ctx, env); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			os.Exit(1)
		}
		fmt.Println()
	}
}

func names() string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}
