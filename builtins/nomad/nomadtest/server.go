package nomadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ctlogging "github.com/hashicorp/consul-template/logging"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// NomadVersion is the Nomad release whose API and client behaviour the double imitates.
const NomadVersion = "1.6.5"

// NomadVersionIdentity is the Nomad release the double answers as when its agent
// configuration selects the workload identity flow (a vault block without a token).
const NomadVersionIdentity = "1.10.5"

// Config configures a double. The zero value works for jobs that need neither Vault
// nor Consul.
type Config struct {
	// AgentConfigPath is the Nomad agent HCL (or JSON) file whose vault {} block (and
	// server.oidc_issuer) the double reads at New and on Reload, as Nomad reads its
	// configuration at start and on SIGHUP; edits take effect only then. A vault block
	// with a token selects Nomad 1.6's token flow, one without a token the workload
	// identity flow of Nomad 1.10 (see the package doc). Empty or missing means Vault is
	// disabled; a file that does not decode makes New fail.
	AgentConfigPath string

	// ConsulAddr is the HTTP address of a real Consul agent ("http://127.0.0.1:8500").
	// Job services and checks are registered there. Empty means services are not
	// registered (the node still advertises a Consul version so such jobs can be placed)
	// and templates have no Consul.
	ConsulAddr string

	// ConsulTransport, when set, is the HTTP transport of the double's Consul client
	// (ConsulAddr): an InMemory double registers job services in a fake Consul through it.
	ConsulTransport http.RoundTripper

	// DataDir holds the allocation and task directories. Empty means a temporary
	// directory that Close removes; a given directory is left in place.
	DataDir string

	// PortRange is the dynamic port range on 127.0.0.1 (Nomad's default 20000-32000
	// when zero).
	PortRange PortRange

	// SimulateDrivers lists task drivers, besides raw_exec, that the node claims to have.
	// Their tasks go through the whole client setup (task dir, Vault token, templates,
	// services) and are then marked running without running anything. Any other driver
	// is missing on the node, as docker is on a machine without Docker.
	SimulateDrivers []string

	// Datacenter and Region of the simulated agent and its one client node ("dc1",
	// "global").
	Datacenter string
	Region     string

	// NodeName is the client node's name ("nomadtest").
	NodeName string

	// TemplateTimeout bounds the first render of a task's templates (30s). Nomad waits
	// forever; the double fails the task with "Template failed: ..." instead.
	TemplateTimeout time.Duration

	// NoClient runs a server-only agent, as Nomad's client.enabled = false: there is
	// no node, so every placement fails and leaves a blocked evaluation.
	NoClient bool

	// SerfPort, when set, is the gossip port the agent advertises and listens on
	// (127.0.0.1) for other doubles joining it (agent_cluster.go). Zero advertises
	// Nomad's 4648 and listens on nothing.
	SerfPort int

	// NodeRegisterAfter is how long after the agent is up its client node registers
	// (and so becomes listed and placeable); until then placements leave blocked
	// evaluations, which the registration unblocks. Zero registers it at index 1,
	// before New returns. A Nomad dev agent's client registers only once its server
	// has elected itself leader, over a second after start; the nomad shim models that.
	NodeRegisterAfter time.Duration

	// InMemory runs the double without a socket, a process or the network, for
	// `nvrun test`'s Nomad fake (builtins/nomad/nomadfake): New listens on nothing (serve
	// Server.Handler, e.g. with runtime/fakenet), every task driver is simulated (the node
	// has raw_exec and SimulateDrivers), and a task starts at once: no task directory,
	// Vault token, workload identity or template (services are registered only through
	// ConsulTransport, and the node asks no Consul for its version). An allocation is
	// healthy as soon as its tasks run (min_healthy_time is not waited out), so a
	// deployment succeeds at once. Ports are handed out without probing the host, and the
	// node fingerprints Vault as accessible (version InMemoryVaultVersion) whenever the
	// agent config enables it, without asking it. Dynamic ports are handed out in order from
	// the bottom of PortRange (20000 by default). InMemory doubles share one keyring (an
	// RSA key is most of what a new double costs, and they sign nothing). The API, the
	// job store, validation, plans and diffs, evaluations and deployments are those of
	// the double.
	InMemory bool

	// AgentConfigSource, when set, is read instead of AgentConfigPath (at New and on
	// Reload): the agent config's text, or an error wrapping fs.ErrNotExist for a
	// missing file (Vault disabled).
	AgentConfigSource func() ([]byte, error)

	// Logf receives the double's own log lines (never secrets). Nil discards them.
	Logf func(format string, args ...any)
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Min, Max int }

// Server is a running Nomad API double (1.6, or 1.10 as its agent config selects) with
// one simulated client node.
type Server struct {
	// URL is the base address of the HTTP API, "http://127.0.0.1:PORT".
	URL string

	cfg        Config
	ownDataDir bool
	ln         net.Listener
	http       *http.Server
	handler    http.Handler // the API, also without a listener (InMemory)
	node       nodeInfo
	nodeRec    *nodeRecord        // guarded by mu (node_register.go)
	logs       logHub             // the agent log's monitors (agent_monitor.go)
	workers    *workerPool        // guarded by mu (agent_schedulers.go)
	peers      []*api.AgentMember // other gossip members, guarded by mu (agent_cluster.go)
	gossip     *http.Server
	sched      *schedulerConfig // guarded by mu (operator.go)
	deferred   []deferredEval   // evaluations held while the eval broker is paused
	events     []api.Event      // the Node topic's event buffer (event_stream.go)
	ports      *portAllocator

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // alloc runners and watchers

	mu            sync.Mutex
	index         uint64
	tables        map[string]uint64 // the index of the last write to each table (index.go)
	blocking      atomic.Int64      // blocking queries waiting for a write
	changed       chan struct{}     // closed and replaced on every index bump
	jobs          map[nsID]*jobEntry
	evals         map[string]*api.Evaluation
	allocs        map[string]*allocEntry
	deployments   map[string]*api.Deployment
	registrations map[nsID]int
	namespaces    map[string]*api.Namespace // besides "default" (namespaces.go)
	closed        bool

	cfgMu   sync.Mutex
	agent   *agentState // the agent configuration in effect
	keyring *keyring    // signs workload identities

	consulOnce   sync.Once
	consulClient *consulapi.Client
	consulErr    error
}

type nsID struct{ ns, id string }

type jobEntry struct {
	job      *api.Job   // the latest version, with server-set fields
	versions []*api.Job // newest first, at most maxTrackedVersions

	submissions   map[uint64]*api.JobSubmission  // by version (submission.go)
	scalingEvents map[string][]*api.ScalingEvent // by group, newest first (scale.go)
}

// maxTrackedVersions is Nomad's JobTrackedVersions.
const maxTrackedVersions = 6

// quietTemplates sets consul-template's (process-wide) log filter to warnings, as its
// CLI does by default; unset, its library logs every DEBUG and TRACE line to stderr.
var quietTemplates sync.Once

// New starts a double listening on a free loopback port.
func New(cfg Config) (*Server, error) {
	quietTemplates.Do(func() { _ = ctlogging.Setup(&ctlogging.Config{Level: "WARN", Writer: os.Stderr}) })
	if cfg.Datacenter == "" {
		cfg.Datacenter = "dc1"
	}
	if cfg.Region == "" {
		cfg.Region = api.GlobalRegion
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "nomadtest"
	}
	if cfg.PortRange.Min == 0 && cfg.PortRange.Max == 0 {
		cfg.PortRange = PortRange{Min: 20000, Max: 32000}
	}
	if cfg.PortRange.Min <= 0 || cfg.PortRange.Max > 65535 || cfg.PortRange.Min > cfg.PortRange.Max {
		return nil, fmt.Errorf("nomadtest: bad port range %d-%d", cfg.PortRange.Min, cfg.PortRange.Max)
	}
	if cfg.TemplateTimeout <= 0 {
		cfg.TemplateTimeout = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	cfg.SimulateDrivers = slices.Clone(cfg.SimulateDrivers)

	s := &Server{
		cfg:           cfg,
		changed:       make(chan struct{}),
		jobs:          map[nsID]*jobEntry{},
		evals:         map[string]*api.Evaluation{},
		allocs:        map[string]*allocEntry{},
		deployments:   map[string]*api.Deployment{},
		registrations: map[nsID]int{},
		index:         1,
	}
	if cfg.InMemory {
		// no data directory: tasks get none
	} else if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "nomadtest-")
		if err != nil {
			return nil, fmt.Errorf("nomadtest: data dir: %w", err)
		}
		s.cfg.DataDir, s.ownDataDir = dir, true
	} else if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("nomadtest: data dir: %w", err)
	}
	// Task users (e.g. postgres) must be able to traverse to their task directory.
	if !cfg.InMemory {
		if err := os.Chmod(s.cfg.DataDir, 0o711); err != nil {
			return nil, fmt.Errorf("nomadtest: data dir: %w", err)
		}
	}
	s.node = newNodeInfo(s.cfg)
	s.ports = newPortAllocator(cfg.PortRange)
	if cfg.InMemory {
		// Nothing listens in memory: hand out ports from the bottom of the range, so a
		// test knows the first dynamic port (20000).
		s.ports.inMemory, s.ports.next = true, cfg.PortRange.Min
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	vc, issuer, err := s.loadAgentConfig()
	if err != nil {
		s.cancel()
		s.cleanupDataDir()
		return nil, fmt.Errorf("nomadtest: %w", err)
	}
	newKeys := newKeyring
	if cfg.InMemory {
		newKeys = sharedKeyring
	}
	if s.keyring, err = newKeys(); err != nil {
		s.cancel()
		s.cleanupDataDir()
		return nil, fmt.Errorf("nomadtest: keyring: %w", err)
	}
	s.applyAgentConfig(vc, issuer)
	s.handler = s.router()
	if cfg.InMemory {
		s.startClient()
		return s, nil
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.cancel()
		s.wg.Wait()
		s.cleanupDataDir()
		return nil, fmt.Errorf("nomadtest: listen: %w", err)
	}
	s.ln = ln
	if err := s.startGossip(); err != nil {
		ln.Close()
		s.cancel()
		s.wg.Wait()
		s.cleanupDataDir()
		return nil, fmt.Errorf("nomadtest: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	s.startClient()
	return s, nil
}

// Close stops the HTTP API, kills every task process (SIGKILL after a short grace),
// deregisters the services it registered in Consul, revokes the Vault task tokens it
// derived, and removes the data directory if New created it.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	var runners []*allocRunner
	for _, e := range s.allocs {
		if e.runner != nil {
			runners = append(runners, e.runner)
		}
	}
	s.mu.Unlock()

	// Cancelling first releases blocking queries and aborts Vault calls in progress.
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if s.http != nil {
		_ = s.http.Shutdown(ctx)
	}
	if s.gossip != nil {
		_ = s.gossip.Shutdown(ctx)
	}
	cancel()
	for _, r := range runners {
		r.stop("server closed", 2*time.Second)
	}
	s.wg.Wait()
	s.cleanupDataDir()
}

func (s *Server) cleanupDataDir() {
	if s.ownDataDir {
		_ = os.RemoveAll(s.cfg.DataDir)
	}
}

// Handler is the double's HTTP API: what New serves at URL, and what an InMemory double
// is used through (it has no URL).
func (s *Server) Handler() http.Handler { return s.handler }

// DataDir is where allocation directories live: DataDir/<alloc ID>/<task>/{local,secrets,tmp}
// and DataDir/<alloc ID>/alloc.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Registrations counts the accepted job registrations of jobID in any namespace,
// including re-registrations of an unchanged job (which Nomad answers without a new
// version). Rejected registrations are not counted.
func (s *Server) Registrations(jobID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.registrations {
		if k.id == jobID {
			n += c
		}
	}
	return n
}

// Allocations returns copies of the allocations of jobID (default namespace), newest
// first.
func (s *Server) Allocations(jobID string) []*api.Allocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*api.Allocation
	for _, e := range s.sortedAllocs() {
		if e.alloc.JobID == jobID && e.alloc.Namespace == api.DefaultNamespace {
			out = append(out, copyAlloc(e.alloc))
		}
	}
	return out
}

// WaitAllocs blocks until cond holds for the allocations of jobID (default namespace,
// newest first), or ctx ends. It returns the allocations it last saw.
func (s *Server) WaitAllocs(ctx context.Context, jobID string, cond func([]*api.Allocation) bool) ([]*api.Allocation, error) {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		allocs := s.Allocations(jobID)
		if cond(allocs) {
			return allocs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return allocs, fmt.Errorf("nomadtest: waiting for allocations of %q: %w", jobID, ctx.Err())
		}
	}
}

// TaskPID is the process ID of a running raw_exec task, or 0.
func (s *Server) TaskPID(allocID, task string) int {
	s.mu.Lock()
	e := s.allocs[allocID]
	s.mu.Unlock()
	if e == nil || e.runner == nil {
		return 0
	}
	if tr := e.runner.tasks[task]; tr != nil {
		return tr.pid()
	}
	return 0
}

// TaskDir is the directory of a task of an allocation (it may not exist yet).
func (s *Server) TaskDir(allocID, task string) string {
	return taskDirPath(s.cfg.DataDir, allocID, task)
}

// bump advances the state index and wakes blocking queries. Callers hold s.mu.
func (s *Server) bump() uint64 {
	s.index++
	close(s.changed)
	s.changed = make(chan struct{})
	return s.index
}

func (s *Server) logf(format string, args ...any) { s.cfg.Logf("nomadtest: "+format, args...) }

var errClosed = errors.New("nomadtest: server closed")

// uuid returns a random RFC 4122 version 4 UUID, as Nomad's IDs are.
func uuid() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func now() int64 { return time.Now().UnixNano() }
