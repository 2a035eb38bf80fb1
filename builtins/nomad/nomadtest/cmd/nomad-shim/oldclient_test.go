package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nomad16Client is the nomad/api version of May 2023 (Nomad 1.6 in development),
// whose api.Job still has ConsulToken and VaultToken.
const nomad16Client = "github.com/hashicorp/nomad/api@v0.0.0-20230519153805-2275a83cbfdf"

// A program using that client: register, plan and read a job.
const oldClientMain = `package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/nomad/api"
)

func main() {
	c, err := api.NewClient(&api.Config{Address: os.Getenv("NOMAD_ADDR")})
	if err != nil {
		fail(err)
	}
	job := api.NewServiceJob("old", "old", "global", 50)
	job.Datacenters = []string{"dc1"}
	task := api.NewTask("t", "raw_exec").SetConfig("command", "/bin/sleep").SetConfig("args", []string{"60"})
	job.AddTaskGroup(api.NewTaskGroup("g", 1).AddTask(task))
	resp, _, err := c.Jobs().Register(job, nil)
	if err != nil {
		fail(err)
	}
	plan, _, err := c.Jobs().Plan(job, true, nil)
	if err != nil {
		fail(err)
	}
	got, _, err := c.Jobs().Info("old", nil)
	if err != nil {
		fail(err)
	}
	fmt.Println("registered", resp.EvalID != "", "planned", plan.Diff != nil, "version", *got.Version)
}

func fail(err error) {
	fmt.Println("error:", err)
	os.Exit(1)
}
`

// TestNomad16EraClient runs a program built with the May 2023 nomad/api against the
// shim: Nomad 1.6 accepts such a client's jobs, so the double must too.
func TestNomad16EraClient(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	tmp := t.TempDir()
	binDir := buildShim(t, goBin, tmp)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg, _ := json.Marshal(map[string]any{
		"data_dir": filepath.Join(tmp, "data"), "ports": map[string]int{"http": port},
		"server": map[string]any{"enabled": true, "bootstrap_expect": 1}, "client": map[string]any{"enabled": false},
	})
	cfgPath := filepath.Join(tmp, "agent.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(filepath.Join(binDir, "nomad"), "agent", "-config", cfgPath)
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = agent.Process.Signal(os.Interrupt)
		_ = agent.Wait()
	})
	addr := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(addr + "/v1/status/leader"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shim did not answer")
		}
	}

	mod := filepath.Join(tmp, "oldclient")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"go.mod":  "module oldclient\n\ngo 1.20\n\nrequire " + strings.Replace(nomad16Client, "@", " ", 1) + "\n",
		"main.go": oldClientMain,
	} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "NOMAD_ADDR="+addr)
	tidy := exec.Command(goBin, "mod", "tidy")
	tidy.Dir, tidy.Env = mod, env
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy for %s: %v\n%s", nomad16Client, err, out)
	}
	run := exec.Command(goBin, "run", ".")
	run.Dir, run.Env = mod, env
	out, err := run.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "registered true planned true version 0" {
		t.Fatalf("the May 2023 client: %v\n%s", err, out)
	}
}
