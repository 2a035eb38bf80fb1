package testserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Consul is a running single-node Consul dev agent (in-memory, its own leader).
type Consul struct {
	// HTTPAddr is the HTTP API base URL, e.g. "http://127.0.0.1:8500".
	HTTPAddr string
	// DNSAddr is the DNS server address (UDP and TCP), e.g. "127.0.0.1:8600".
	DNSAddr string
	Proc    *Process
}

// ConsulNodeName is the node name of the agent StartConsul runs.
const ConsulNodeName = "nvrun-test"

// StartConsul starts `consul agent -dev` with every port chosen explicitly on loopback
// (gRPC off), its config file and log in dir, and waits until it has elected itself
// leader. Stop it with Stop.
func StartConsul(dir string) (*Consul, error) {
	bin, err := Binary("consul")
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(5)
	if err != nil {
		return nil, err
	}
	httpPort, dnsPort, serverPort, lanPort, wanPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	config := map[string]any{
		"node_name":            ConsulNodeName,
		"bind_addr":            "127.0.0.1",
		"client_addr":          "127.0.0.1",
		"advertise_addr":       "127.0.0.1",
		"disable_update_check": true,
		"log_level":            "warn",
		"ports": map[string]int{
			"http":     httpPort,
			"https":    -1,
			"dns":      dnsPort,
			"server":   serverPort,
			"serf_lan": lanPort,
			"serf_wan": wanPort,
			"grpc":     -1,
			"grpc_tls": -1,
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return nil, err
	}
	configPath := filepath.Join(dir, "consul.json")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("consul config: %w", err)
	}

	cmd := exec.Command(bin, "agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-config-file", configPath)
	cmd.Dir = dir
	cmd.Env = consulEnv(dir)
	proc, err := Start("consul", cmd, filepath.Join(dir, "consul.log"))
	if err != nil {
		return nil, err
	}
	c := &Consul{
		HTTPAddr: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		DNSAddr:  "127.0.0.1:" + strconv.Itoa(dnsPort),
		Proc:     proc,
	}
	if err := c.waitLeader(90 * time.Second); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return c, nil
}

// consulEnv is the test process's environment without any CONSUL_* variable, so that
// no CONSUL_HTTP_ADDR, token or similar leaks into the agent.
func consulEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CONSUL_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir)
}

// Leader returns the agent's view of the raft leader's address ("" if none yet).
func (c *Consul) Leader(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTPAddr+"/v1/status/leader", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /v1/status/leader: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var leader string
	if err := json.Unmarshal(body, &leader); err != nil {
		return "", fmt.Errorf("GET /v1/status/leader: %w: %q", err, body)
	}
	return leader, nil
}

func (c *Consul) waitLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error = errors.New("no leader elected yet")
	for time.Now().Before(deadline) {
		if c.Proc.Exited() {
			return fmt.Errorf("consul exited before electing a leader: %v\n%s", c.Proc.waitErr, c.Proc.Log())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		leader, err := c.Leader(ctx)
		cancel()
		if err == nil && leader != "" {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("consul elected no leader within %s (last: %v)\n%s", timeout, lastErr, c.Proc.Log())
}

// Stop stops the agent and waits for it to exit.
func (c *Consul) Stop() error {
	if c == nil {
		return nil
	}
	return c.Proc.Stop()
}
