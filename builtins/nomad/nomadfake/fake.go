// Package nomadfake is `nvrun test`'s Nomad: the Nomad double (builtins/nomad/nomadtest)
// run in memory (nomadtest.Config.InMemory), so its job store, validation,
// canonicalisation, plan diffs, evaluations and deployments are the very ones the
// project's Nomad tests trust, with no socket, process or network: a registered job's
// allocations run, and are healthy, at once. Plug it in as the nomad module's transport
// (runtime/fakenet.Transport(f)) and as its agent config files (Options.AgentFiles: f).
//
// The agent config (state.nomad(agent_config="HCL text")) is one file the fake serves at
// whatever path the script names: nomad.agent_config_read and nomad.agent_config read
// it, a write replaces it at that path, and an on_change command is recorded (OnChange),
// never run. Like a restart, on_change makes the double reload its agent config from
// the file just written; without on_change, the agent keeps the config it started with,
// as a Nomad agent does.
//
// Knowingly different from Nomad, beyond the double's own differences (nomadtest's
// package doc): tasks run nothing and never exit, so a batch job's allocations stay
// running; every allocation is healthy as soon as it is placed; the node has the drivers
// in Drivers and raw_exec; dynamic ports are handed out from 20000 up; job services
// reach a Consul only through UseConsul.
package nomadfake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// Drivers are the task drivers the fake's node has (simulated, as everything is).
var Drivers = []string{"docker", "exec", "java", "podman", "qemu"}

// Fake is an in-memory Nomad agent (server and one client node) and its agent config
// file; safe for concurrent use.
type Fake struct {
	srv *nomadtest.Server

	mu       sync.Mutex
	initial  *file           // the described agent config, served at any path not written
	files    map[string]file // written by the script, by clean path
	loaded   string          // the path the agent last loaded its config from ("": initial)
	onChange [][]string
	consul   http.Handler // where job services are registered (UseConsul); nil: nowhere
}

type file struct {
	data []byte
	mode fs.FileMode
}

// Options describe a fake's starting state (what state.nomad(...) gives).
type Options struct {
	// Jobs are registered, in order, before the fake answers anything (version 0 each,
	// their allocations running and healthy).
	Jobs []*api.Job
	// AgentConfig is the agent config file's text; nil: there is no file (the agent
	// runs with Vault disabled).
	AgentConfig *string
	// AgentConfigMode is the file's mode; zero means 0600 when its vault block holds a
	// token (as nvrun writes it) and 0644 otherwise.
	AgentConfigMode fs.FileMode
	// Namespaces exist besides "default" (created before the jobs are registered).
	Namespaces []string
}

// New starts a fake from opts.
func New(opts Options) (*Fake, error) {
	f := &Fake{files: map[string]file{}}
	if opts.AgentConfig != nil {
		text := *opts.AgentConfig
		mode := opts.AgentConfigMode
		if mode == 0 {
			mode = 0o644
			if holdsToken(text) {
				mode = 0o600
			}
		}
		f.initial = &file{data: []byte(text), mode: mode.Perm()}
	}
	srv, err := nomadtest.New(nomadtest.Config{
		InMemory:          true,
		SimulateDrivers:   Drivers,
		AgentConfigSource: f.agentSource,
		ConsulAddr:        "http://consul.fake:8500",
		ConsulTransport:   consulLink{f},
	})
	if err != nil {
		return nil, fmt.Errorf("the agent config: %w", err)
	}
	f.srv = srv
	if err := f.seed(opts.Namespaces, opts.Jobs); err != nil {
		srv.Close()
		return nil, err
	}
	return f, nil
}

// seed creates the namespaces, registers the jobs and waits until their allocations run.
func (f *Fake) seed(namespaces []string, jobs []*api.Job) error {
	if len(jobs) == 0 && len(namespaces) == 0 {
		return nil
	}
	c, err := api.NewClient(&api.Config{Address: "http://nomad.fake:4646", HttpClient: &http.Client{Transport: fakenet.Transport(f)}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range namespaces {
		if _, err := c.Namespaces().Register(&api.Namespace{Name: ns}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("namespace %q: Nomad refuses it: %w", ns, err)
		}
	}
	for _, j := range jobs {
		id := ""
		if j.ID != nil {
			id = *j.ID
		}
		if _, _, err := c.Jobs().Register(j, (&api.WriteOptions{Namespace: deref(j.Namespace), Region: deref(j.Region)}).WithContext(ctx)); err != nil {
			return fmt.Errorf("job %q: Nomad refuses it: %w", id, err)
		}
	}
	for _, j := range jobs {
		if deref(j.Namespace) != "" && deref(j.Namespace) != api.DefaultNamespace {
			continue // WaitAllocs watches the default namespace; the others start as fast
		}
		want := 0
		for _, tg := range j.TaskGroups {
			if tg.Count == nil {
				want++
			} else {
				want += *tg.Count
			}
		}
		_, err := f.srv.WaitAllocs(ctx, *j.ID, func(as []*api.Allocation) bool {
			running := 0
			for _, a := range as {
				if a.ClientStatus == api.AllocClientStatusRunning {
					running++
				}
			}
			return running >= want
		})
		if err != nil {
			return fmt.Errorf("job %q: its allocations did not start: %w", *j.ID, err)
		}
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// UseConsul makes the fake register its jobs' services and checks in a fake Consul (h,
// e.g. a builtins/consul/consulfake.Fake), as a Nomad agent registers them in its local
// Consul agent: the Consul fake then answers consul.service, consul.wait and consul.srv
// with the running allocations (address 127.0.0.1, the allocated port; dynamic ports
// from 20000), and a job's health waits for its checks (which the Consul fake passes at
// once). Services of allocations placed before the call are not registered. Without
// it, services are registered nowhere.
func (f *Fake) UseConsul(h http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consul = h
}

// consulLink is the double's Consul transport: the fake Consul of UseConsul, or
// noConsul.
type consulLink struct{ f *Fake }

func (l consulLink) RoundTrip(req *http.Request) (*http.Response, error) {
	l.f.mu.Lock()
	h := l.f.consul
	l.f.mu.Unlock()
	if h == nil {
		h = noConsul
	}
	return fakenet.Transport(h).RoundTrip(req)
}

// noConsul takes registrations and drops them, and has no checks (so health does not
// wait for any): services registered nowhere.
var noConsul = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/agent/service/"):
	case r.Method == http.MethodGet && r.URL.Path == "/v1/agent/checks":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	default:
		http.NotFound(w, r)
	}
})

// ServeHTTP answers as the Nomad HTTP API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.srv.Handler().ServeHTTP(w, r) }

// Close stops the double's background work (allocation runners). A fake that is not
// closed only keeps a few idle goroutines.
func (f *Fake) Close() { f.srv.Close() }

// Server is the double behind the fake, for tests that inspect it.
func (f *Fake) Server() *nomadtest.Server { return f.srv }

// OnChange lists the on_change commands the script ran (recorded, never run), in order.
func (f *Fake) OnChange() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.onChange))
	for i, c := range f.onChange {
		out[i] = slices.Clone(c)
	}
	return out
}

// AgentConfig is the agent config file at path as it is now (the described text, or
// what the script wrote there), and whether it exists.
func (f *Fake) AgentConfig(path string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.fileLocked(path)
	return string(fl.data), ok
}

func (f *Fake) fileLocked(path string) (file, bool) {
	if fl, ok := f.files[filepath.Clean(path)]; ok {
		return fl, true
	}
	if f.initial != nil {
		return *f.initial, true
	}
	return file{}, false
}

// agentSource is what the double loads as its agent config: the described file, or
// the one an on_change "restart" named.
func (f *Fake) agentSource() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loaded != "" {
		if fl, ok := f.files[f.loaded]; ok {
			return slices.Clone(fl.data), nil
		}
	}
	if f.initial == nil {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(f.initial.data), nil
}

// The nomad module's agent config files (nomad.AgentFiles).
var _ nomad.AgentFiles = (*Fake)(nil)

// Read serves the agent config at any path.
func (f *Fake) Read(path string) (nomad.AgentFile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := nomad.AgentFile{Real: filepath.Clean(path), UID: -1, GID: -1}
	fl, ok := f.fileLocked(path)
	if !ok {
		return out, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	out.Data, out.Mode = slices.Clone(fl.data), fl.mode
	return out, nil
}

// Write replaces the file at af.Real.
func (f *Fake) Write(af nomad.AgentFile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[filepath.Clean(af.Real)] = file{data: slices.Clone(af.Data), mode: af.Mode.Perm()}
	return nil
}

// Chmod sets the mode of the file at real.
func (f *Fake) Chmod(real string, mode fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.fileLocked(real)
	if !ok {
		return fmt.Errorf("chmod %s: %w", real, fs.ErrNotExist)
	}
	fl.mode = mode.Perm()
	f.files[filepath.Clean(real)] = fl
	return nil
}

// Run records on_change and, as a restart would, makes the agent load the config file
// it names (NVRUN_AGENT_CONFIG). A file Nomad cannot load fails the "restart", with
// the double's error, as `systemctl restart nomad` would fail.
func (f *Fake) Run(_ context.Context, argv, env []string) ([]byte, error) {
	f.mu.Lock()
	f.onChange = append(f.onChange, slices.Clone(argv))
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "NVRUN_AGENT_CONFIG="); ok {
			if _, written := f.files[filepath.Clean(p)]; written {
				f.loaded = filepath.Clean(p)
			}
		}
	}
	f.mu.Unlock()
	if err := f.srv.Reload(); err != nil {
		return []byte(err.Error()), errors.New("the fake Nomad agent did not come back with this config")
	}
	return nil, nil
}

// holdsToken says whether an agent config's vault block sets a token. Text that does not
// decode holds none (the module reports it when it reads the file).
func holdsToken(text string) bool {
	var cfg struct {
		Vault []struct {
			Token string `hcl:"token"`
		} `hcl:"vault"`
	}
	if hcl.Decode(&cfg, text) != nil {
		return false
	}
	for _, v := range cfg.Vault {
		if v.Token != "" {
			return true
		}
	}
	return false
}

// FromStarlark builds a fake from state.nomad(jobs=[...], agent_config="HCL",
// agent_config_mode=0o600, namespaces=["prod"]). A job is a nomad.job(...) value or a
// dict in the nomad/api JSON shape ({"ID": "web", "TaskGroups": [...]}); a job in a
// namespace other than "default" needs that namespace in namespaces.
func FromStarlark(kwargs []starlark.Tuple) (*Fake, error) {
	const where = "state.nomad"
	args, err := fakenet.StateArgs(where, nil, kwargs, "jobs", "agent_config", "agent_config_mode", "namespaces")
	if err != nil {
		return nil, err
	}
	var opts Options
	if v, ok := args["jobs"]; ok {
		if opts.Jobs, err = jobsArg(where, v); err != nil {
			return nil, err
		}
	}
	if v, ok := args["agent_config"]; ok && v != starlark.None {
		s, ok := starlark.AsString(v)
		if !ok {
			return nil, fakenet.WrongType(where, "agent_config", "a string (the agent config's HCL text)", v)
		}
		opts.AgentConfig = &s
	}
	if v, ok := args["agent_config_mode"]; ok {
		var n int64
		exact := false
		if i, ok := v.(starlark.Int); ok {
			n, exact = i.Int64()
		}
		if !exact || n <= 0 || n > 0o777 {
			return nil, fakenet.WrongType(where, "agent_config_mode", "a file mode such as 0o600", v)
		}
		opts.AgentConfigMode = fs.FileMode(n)
	}
	if v, ok := args["namespaces"]; ok {
		ns, err := runtime.StringList(v)
		if err != nil {
			return nil, fmt.Errorf("%s: namespaces: %w", where, err)
		}
		opts.Namespaces = ns
	}
	f, err := New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return f, nil
}

func jobsArg(where string, v starlark.Value) ([]*api.Job, error) {
	it, ok := v.(starlark.Iterable)
	if !ok || v.Type() == "string" || v.Type() == "dict" {
		return nil, fakenet.WrongType(where, "jobs", "a list of nomad.job(...) values or job dicts", v)
	}
	var jobs []*api.Job
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for i := 0; iter.Next(&x); i++ {
		j, err := jobArg(x)
		if err != nil {
			return nil, fmt.Errorf("%s: jobs[%d]: %w", where, i, err)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func jobArg(v starlark.Value) (*api.Job, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nomad.JobOf(v)
	}
	plain, err := runtime.ToGo(d)
	if err != nil {
		return nil, err
	}
	j, err := decodeJob(plain)
	if err != nil {
		return nil, err
	}
	if j.ID == nil || *j.ID == "" {
		return nil, errors.New(`a job dict needs an "ID"`)
	}
	return j, nil
}
