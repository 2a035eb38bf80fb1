// Command nomad-shim stands in for the `nomad` binary that the upstream nomad/api
// tests start through their internal testutil: `nomad -version`, then
// `nomad agent -config FILE [-dev]`. It reads the JSON agent configuration testutil
// writes, starts the nomadtest double and serves it on the configured HTTP port
// until SIGINT or SIGTERM.
//
// It refuses configurations the double cannot honour (ACLs, more than one server) so
// that a test needing them fails with a clear message instead of passing by accident.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nomad-shim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 1 && (args[0] == "-version" || args[0] == "version" || args[0] == "--version") {
		fmt.Printf("Nomad v%s (nomadtest double)\n", nomadtest.NomadVersion)
		return nil
	}
	if len(args) == 0 || args[0] != "agent" {
		return fmt.Errorf("only `agent -config FILE [-dev]` and `-version` are served, got %q", args)
	}
	var files []string
	dev := false
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "-config", "--config":
			if i+1 >= len(args) {
				return errors.New("-config needs a file")
			}
			files = append(files, args[i+1])
			i++
		case "-dev", "--dev":
			dev = true
		default:
			return fmt.Errorf("unsupported agent flag %q", a)
		}
	}
	cfg := agentConfig{}
	for _, f := range files {
		if err := cfg.load(f); err != nil {
			return err
		}
	}
	return serve(cfg, files, dev)
}

// agentConfig is the part of the agent configuration testutil writes (JSON).
type agentConfig struct {
	Name     string `json:"name"`
	DataDir  string `json:"data_dir"`
	Region   string `json:"region"`
	LogLevel string `json:"log_level"`
	Ports    struct {
		HTTP int `json:"http"`
		Serf int `json:"serf"`
	} `json:"ports"`
	Server struct {
		Enabled         bool `json:"enabled"`
		BootstrapExpect int  `json:"bootstrap_expect"`
	} `json:"server"`
	Client struct {
		Enabled bool              `json:"enabled"`
		Options map[string]string `json:"options"`
	} `json:"client"`
	ACL struct {
		Enabled bool `json:"enabled"`
	} `json:"acl"`
	Consul struct {
		Address string `json:"address"`
	} `json:"consul"`
}

func (c *agentConfig) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	return nil
}

func serve(cfg agentConfig, files []string, dev bool) error {
	if cfg.ACL.Enabled {
		return errors.New("acl.enabled: the double serves no ACLs")
	}
	if cfg.Server.BootstrapExpect > 1 {
		return fmt.Errorf("server.bootstrap_expect = %d: the double is one server", cfg.Server.BootstrapExpect)
	}
	port := cfg.Ports.HTTP
	if port == 0 {
		port = 4646
	}
	dc := nomadtest.Config{
		Region:   cfg.Region,
		NodeName: cfg.Name,
		// -dev runs a client too, whatever the file says (Nomad merges a false
		// client.enabled over the dev config's true as true).
		NoClient: !cfg.Client.Enabled && !dev,
		// A dev agent's client registers once the server has elected itself leader
		// (raft's one-second election timeout at raft_multiplier 1), not with the
		// agent's first HTTP answer.
		NodeRegisterAfter: time.Second,
		SerfPort:          cfg.Ports.Serf,
	}
	if lvl := strings.ToUpper(cfg.LogLevel); lvl == "DEBUG" || lvl == "TRACE" {
		dc.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	if cfg.Consul.Address != "" {
		dc.ConsulAddr = "http://" + cfg.Consul.Address
	}
	if len(files) > 0 {
		dc.AgentConfigPath = files[len(files)-1]
	}
	if cfg.DataDir != "" {
		dc.DataDir = filepath.Join(cfg.DataDir, "alloc")
	}
	srv, err := nomadtest.New(dc)
	if err != nil {
		return err
	}
	defer srv.Close()

	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	jwks, err := readinessJWKS()
	if err != nil {
		return err
	}
	// No ServeMux here: its own path cleaning would answer before the double does.
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// testutil (since Nomad 1.7) waits for the keyring through the JWKS endpoint,
		// which Nomad 1.6 does not serve; answer it here so that the probe sees a leader.
		if r.URL.Path == "/.well-known/jwks.json" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
	return nil
}

// readinessJWKS is a JWKS with one fresh Ed25519 public key.
func readinessJWKS() ([]byte, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	kid := make([]byte, 8)
	_, _ = rand.Read(kid)
	return json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
		"kid": fmt.Sprintf("%x", kid), "x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
}
