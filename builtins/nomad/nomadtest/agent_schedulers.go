package nomadtest

import (
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The server's scheduler worker pool, as /v1/agent/schedulers[/config] report and set
// it. The double keeps and reports the configuration, but its scheduler is not a
// pool of workers: evaluations run whatever it says (doc.go, "Knowingly different").

// builtinSchedulers are Nomad's scheduler types besides "_core".
var builtinSchedulers = []string{"service", "batch", "system", "sysbatch"}

type workerPool struct {
	num     int
	enabled []string
	started time.Time
	ids     []string
}

// schedulerPool is the pool's configuration, Nomad's defaults (one worker per core,
// every scheduler) until set; callers hold s.mu.
func (s *Server) schedulerPool() *workerPool {
	if s.workers == nil {
		s.workers = &workerPool{
			num:     runtime.NumCPU(),
			enabled: append(slices.Clone(builtinSchedulers), "_core"),
			started: time.Now(),
		}
		s.workers.ids = workerIDs(s.workers.num)
	}
	return s.workers
}

func workerIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid()
	}
	return ids
}

// validPool is Nomad's SchedulerWorkerPoolArgs.IsValid: a non-negative count and
// known schedulers, "_core" among them.
func validPool(num int, enabled []string) bool {
	if num < 0 {
		return false
	}
	core := false
	for _, e := range enabled {
		if e == "_core" {
			core = true
		} else if !slices.Contains(builtinSchedulers, e) {
			return false
		}
	}
	return core
}

func (s *Server) memberName() string { return s.node.Name + "." + s.cfg.Region }

// agentSchedulers serves GET /v1/agent/schedulers: one entry per worker.
func (s *Server) agentSchedulers(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.schedulerPool()
	out := &api.AgentSchedulerWorkersInfo{ServerID: s.memberName(), Schedulers: []api.AgentSchedulerWorkerInfo{}}
	for _, id := range p.ids {
		out.Schedulers = append(out.Schedulers, api.AgentSchedulerWorkerInfo{
			ID:                id,
			EnabledSchedulers: slices.Clone(p.enabled),
			Started:           p.started.UTC().Format(time.RFC3339Nano),
			Status:            "Started",
			WorkloadStatus:    "WaitingToDequeue",
		})
	}
	return out, nil
}

// agentSchedulersConfig serves /v1/agent/schedulers/config: GET reads the pool's
// configuration, PUT or POST replaces it (restarting the workers).
func (s *Server) agentSchedulersConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPost:
		var req api.AgentSchedulerWorkerConfigRequest
		if err := decodeStrict(r, &req); err != nil {
			return nil, coded(http.StatusBadRequest, "Invalid request: %v", err)
		}
		if !validPool(req.NumSchedulers, req.EnabledSchedulers) {
			return nil, coded(http.StatusBadRequest, "Invalid request")
		}
		s.mu.Lock()
		p := s.schedulerPool()
		if p.num != req.NumSchedulers || !slices.Equal(sortedCopy(p.enabled), sortedCopy(req.EnabledSchedulers)) {
			p.num, p.enabled, p.started = req.NumSchedulers, slices.Clone(req.EnabledSchedulers), time.Now()
			p.ids = workerIDs(p.num)
		}
		s.mu.Unlock()
	default:
		return nil, errInvalidMethod
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.schedulerPool()
	return &api.AgentSchedulerWorkerConfigResponse{
		ServerID: s.memberName(), NumSchedulers: p.num, EnabledSchedulers: slices.Clone(p.enabled),
	}, nil
}

func sortedCopy(v []string) []string {
	c := slices.Clone(v)
	slices.Sort(c)
	return c
}
