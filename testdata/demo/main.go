// Command demo is `make demo`: it starts a real Vault, a real Consul and PostgreSQL, and
// the Nomad API double (there is no real Nomad on this machine: see the README), then
// runs the whole guide with nvrun for real, prints its progress and the /names page, and
// cleans everything up.
//
// Its one optional argument is the script (`make demo SCRIPT=...`): scripts/guide.star
// (the default, Nomad's token flow) or scripts/workload-identity.star (Nomad 1.7+).
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
	"strings"
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

	script := filepath.Join(root, "scripts", "guide.star")
	if len(os.Args) > 1 && os.Args[1] != "" {
		if script, err = filepath.Abs(os.Args[1]); err != nil {
			return err
		}
	}
	varFiles := stack.VarFiles()
	if declaresVar(nvrun, script, "jwks_url") {
		varFiles = stack.IdentityVarFiles() // where Vault finds the double's signing keys
	}
	args := []string{}
	for _, f := range varFiles {
		args = append(args, "--var-file", f)
	}
	args = append(args, "--timeout", "10m", script)
	logf("running: nvrun %v", args)
	start := time.Now()
	cmd := exec.CommandContext(ctx, nvrun, args...)
	cmd.Env = stack.Env()
	cmd.Dir = stack.Dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nvrun: %w", err)
	}
	logf("%s ran in %s", filepath.Base(script), time.Since(start).Round(100*time.Millisecond))
	page, err := namesPage(stack.Consul.HTTPAddr, "nomad-vault-demo")
	if err != nil {
		return err
	}
	fmt.Printf("\n%s\n", page)
	return nil
}

// declaresVar asks nvrun whether script declares the var name (`nvrun --vars`), so that
// the demo passes only the var files a script accepts.
func declaresVar(nvrun, script, name string) bool {
	out, err := exec.Command(nvrun, "--vars", script).Output()
	if err != nil {
		return false // the run itself will show the script's error
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
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
