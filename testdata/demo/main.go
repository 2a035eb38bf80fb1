// Command demo is `make demo`: it starts a real Vault, a real Consul and PostgreSQL, and
// the Nomad API double (there is no real Nomad on this machine: see the README), then
// runs the whole guide with nvrun for real, prints its progress and the /names page, and
// cleans everything up.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nvrun/nvrun/internal/localstack"
	"github.com/nvrun/nvrun/internal/testserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := testserver.RepoRoot()
	nvrun := filepath.Join(root, "bin", "nvrun")
	if _, err := os.Stat(nvrun); err != nil {
		return fmt.Errorf("%s is missing: run `make build` (make demo does)", nvrun)
	}
	logf := func(f string, a ...any) { fmt.Printf("demo: "+f+"\n", a...) }
	stack, err := localstack.Start("", logf)
	if err != nil {
		return err
	}
	defer func() {
		stack.Close()
		logf("stopped Vault, Consul, the Nomad double and its tasks")
	}()

	args := []string{}
	for _, f := range stack.VarFiles() {
		args = append(args, "--var-file", f)
	}
	args = append(args, "--timeout", "10m", filepath.Join(root, "scripts", "guide.star"))
	logf("running: nvrun %v", args)
	start := time.Now()
	cmd := exec.CommandContext(ctx, nvrun, args...)
	cmd.Env = stack.Env()
	cmd.Dir = stack.Dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nvrun: %w", err)
	}
	logf("the guide ran in %s", time.Since(start).Round(100*time.Millisecond))
	page, err := namesPage(stack.Consul.HTTPAddr, "nomad-vault-demo")
	if err != nil {
		return err
	}
	fmt.Printf("\n%s\n", page)
	return nil
}

// namesPage finds the web service through Consul, as the guide's step 15 does, and
// returns its /names page.
func namesPage(consulAddr, service string) (string, error) {
	resp, err := http.Get(consulAddr + "/v1/health/service/" + service + "?passing=true")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var entries []struct {
		Service struct {
			Address string
			Port    int
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil || len(entries) == 0 {
		return "", fmt.Errorf("no healthy %s instance in Consul (%v)", service, err)
	}
	svc := entries[0].Service
	url := fmt.Sprintf("http://%s/names", net.JoinHostPort(svc.Address, strconv.Itoa(svc.Port)))
	fmt.Printf("demo: GET %s\n", url)
	page, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer page.Body.Close()
	body, err := io.ReadAll(page.Body)
	return string(body), err
}
