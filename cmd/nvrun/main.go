// Command nvrun runs Starlark scripts that drive Vault, Nomad and Consul: `nvrun
// SCRIPT` applies, `nvrun --plan SCRIPT` shows what apply would do and changes nothing.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, nil))
}
