package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

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
		golden(t, c.golden, res.stdout)
		if strings.Contains(res.stdout+res.stderr, "postgres123") {
			t.Fatal("the demo DB password leaked into the plan")
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/nvrun -update creates it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test ./cmd/nvrun -run Golden -update to accept):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}
