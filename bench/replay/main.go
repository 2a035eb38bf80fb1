// Command replay is the raw-HTTP contender of `make bench`: it replays a recording made
// by bench (bench/internal/httpreplay) against a Vault, with a plain net/http client on
// one keep-alive connection, as a small compiled program so that it pays a process start
// as nvrun does.
//
//	replay -addr http://127.0.0.1:8200 -recording rec.json [-vars-out vars.json]
//
// REPLAY_VAR_<NAME>=value fills the placeholder env.<NAME> (a token given from outside).
// -vars-out writes what the replay learnt (the root token of the Vault it initialised,
// say) to a 0600 file, for the bench to check the result with.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nvrun/nvrun/bench/internal/httpreplay"
)

func main() {
	addr := flag.String("addr", "", "server base URL")
	file := flag.String("recording", "", "recording (JSON)")
	varsOut := flag.String("vars-out", "", "write the learnt per-server values here (0600)")
	flag.Parse()
	if err := run(*addr, *file, *varsOut); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(addr, file, varsOut string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var rec httpreplay.Recording
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	external := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "REPLAY_VAR_") {
			external[strings.TrimPrefix(k, "REPLAY_VAR_")] = v
		}
	}
	res, err := httpreplay.Replay(context.Background(), addr, &rec, external)
	if err != nil {
		return err
	}
	if res.Dials != 1 {
		return fmt.Errorf("%d connections opened, want 1 (keep-alive)", res.Dials)
	}
	if varsOut != "" {
		b, err := json.Marshal(res.Vars)
		if err != nil {
			return err
		}
		return os.WriteFile(varsOut, b, 0o600)
	}
	return nil
}
