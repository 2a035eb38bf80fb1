package nomadtest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// nodeInfo is the one client node of the double: it runs every allocation.
type nodeInfo struct {
	ID, Name, Datacenter, Region string
	attrs                        map[string]string
	drivers                      map[string]bool
}

func newNodeInfo(cfg Config) nodeInfo {
	host, _ := os.Hostname()
	n := nodeInfo{
		ID:         uuid(),
		Name:       cfg.NodeName,
		Datacenter: cfg.Datacenter,
		Region:     cfg.Region,
		drivers:    map[string]bool{"raw_exec": true},
		attrs: map[string]string{
			"kernel.name":               "linux",
			"os.name":                   osName(),
			"cpu.arch":                  runtime.GOARCH,
			"unique.hostname":           host,
			"unique.network.ip-address": "127.0.0.1",
			"nomad.version":             NomadVersion,
			"nomad.service_discovery":   "true",
			"os.signals":                "SIGABRT,SIGALRM,SIGBUS,SIGCHLD,SIGCONT,SIGFPE,SIGHUP,SIGILL,SIGINT,SIGIO,SIGIOT,SIGKILL,SIGPIPE,SIGPROF,SIGPWR,SIGQUIT,SIGSEGV,SIGSTKFLT,SIGSTOP,SIGSYS,SIGTERM,SIGTRAP,SIGTSTP,SIGTTIN,SIGTTOU,SIGURG,SIGUSR1,SIGUSR2,SIGVTALRM,SIGWINCH,SIGXCPU,SIGXFSZ",
			"driver.raw_exec":           "1",
		},
	}
	for _, d := range cfg.SimulateDrivers {
		n.drivers[d] = true
		n.attrs["driver."+d] = "1"
	}
	return n
}

// InMemoryVaultVersion is the Vault version an InMemory double's node fingerprints
// (the test substrate's).
const InMemoryVaultVersion = "1.14.1"

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ID="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

// fingerprint returns the node's attributes now: the static ones plus what a Nomad
// client would fingerprint from Vault (per the agent config) and Consul. It does network
// I/O, so call it without holding s.mu.
func (s *Server) fingerprint(ctx context.Context) map[string]string {
	attrs := make(map[string]string, len(s.node.attrs)+4)
	for k, v := range s.node.attrs {
		attrs[k] = v
	}
	attrs["nomad.version"] = s.version() // the agent config selects 1.6 or 1.10
	if vc, err := s.readVaultConfig(); err == nil && vc.enabled() && s.cfg.InMemory {
		attrs["vault.accessible"] = "true"
		attrs["vault.version"] = InMemoryVaultVersion
	} else if err == nil && vc.enabled() {
		if version, ok := vaultVersion(ctx, vc.address()); ok {
			attrs["vault.accessible"] = "true"
			attrs["vault.version"] = version
		} else {
			attrs["vault.accessible"] = "false"
		}
	}
	if s.cfg.ConsulAddr == "" || s.cfg.InMemory {
		// No Consul to ask: claim the test substrate's version so jobs with services
		// remain placeable (see Config.ConsulAddr).
		attrs["consul.version"] = "1.16.0"
	} else if version, ok := consulVersion(ctx, s.cfg.ConsulAddr); ok {
		attrs["consul.version"] = version
	}
	return attrs
}

var fingerprintClient = &http.Client{Timeout: 3 * time.Second}

func vaultVersion(ctx context.Context, addr string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(addr, "/")+"/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200", nil)
	if err != nil {
		return "", false
	}
	resp, err := fingerprintClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var health struct {
		Version string `json:"version"`
	}
	if json.NewDecoder(resp.Body).Decode(&health) != nil || health.Version == "" {
		return "", false
	}
	return health.Version, true
}

func consulVersion(ctx context.Context, addr string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, consulHTTPBase(addr)+"/v1/agent/self", nil)
	if err != nil {
		return "", false
	}
	resp, err := fingerprintClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var self struct {
		Config struct{ Version string }
	}
	if json.NewDecoder(resp.Body).Decode(&self) != nil || self.Config.Version == "" {
		return "", false
	}
	return self.Config.Version, true
}

func consulHTTPBase(addr string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/")
}

// resources are the node's resources as a client fingerprints them (CPU from the core
// count at a nominal 1000 MHz, memory from /proc/meminfo) and the reserved ones
// (none). The scheduler does not bin-pack against them (doc.go).
func (n nodeInfo) resources(ports PortRange) (*api.NodeResources, *api.NodeReservedResources) {
	cores := runtime.NumCPU()
	return &api.NodeResources{
			Cpu:            api.NodeCpuResources{CpuShares: int64(cores) * 1000, TotalCpuCores: uint16(cores)},
			Memory:         api.NodeMemoryResources{MemoryMB: memTotalMB()},
			Disk:           api.NodeDiskResources{DiskMB: 0},
			MinDynamicPort: ports.Min,
			MaxDynamicPort: ports.Max,
		}, &api.NodeReservedResources{
			Cpu:      api.NodeReservedCpuResources{},
			Memory:   api.NodeReservedMemoryResources{},
			Disk:     api.NodeReservedDiskResources{},
			Networks: api.NodeReservedNetworkResources{},
		}
}

func memTotalMB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb / 1024
		}
	}
	return 0
}
