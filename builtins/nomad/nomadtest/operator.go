package nomadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// The operator's scheduler configuration (/v1/operator/scheduler/configuration), as
// Nomad 1.6 stores it in its state. Of its settings the double acts on
// PauseEvalBroker: while the broker is paused evaluations stay pending, and they run
// when it is resumed. The others are stored and reported (doc.go).

// schedulerConfig is Nomad 1.6's SchedulerConfiguration (no post-1.6 fields).
type schedulerConfig struct {
	SchedulerAlgorithm            string
	PreemptionConfig              api.PreemptionConfig
	MemoryOversubscriptionEnabled bool
	RejectJobRegistration         bool
	PauseEvalBroker               bool
	CreateIndex, ModifyIndex      uint64
}

const tableSchedulerConfig = "scheduler_config"

// schedConfig is the configuration in effect, Nomad's defaults written by the leader
// at index 1; callers hold s.mu.
func (s *Server) schedConfig() *schedulerConfig {
	if s.sched == nil {
		s.sched = &schedulerConfig{
			SchedulerAlgorithm: "binpack",
			PreemptionConfig:   api.PreemptionConfig{SystemSchedulerEnabled: true},
			CreateIndex:        1, ModifyIndex: 1,
		}
	}
	return s.sched
}

// brokerPaused: evaluations wait (pending) instead of running; callers hold s.mu.
func (s *Server) brokerPaused() bool { return s.sched != nil && s.sched.PauseEvalBroker }

// deferredEval is an evaluation left pending while the broker is paused.
type deferredEval struct {
	eval       *api.Evaluation
	specChange bool
}

func (s *Server) operatorSchedulerConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		c := *s.schedConfig()
		setIndex(r, c.ModifyIndex)
		return &struct {
			SchedulerConfig *schedulerConfig
			queryMeta
		}{&c, queryMeta{Index: c.ModifyIndex, KnownLeader: true}}, nil
	case http.MethodPut, http.MethodPost:
	default:
		return nil, errInvalidMethod
	}
	// Nomad 1.6 decodes api.SchedulerConfiguration leniently; newer clients send
	// NodeLimitForFeasibilityChecks, which 1.6 does not have: its zero value is what
	// 1.6 would do, anything else is refused rather than ignored.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, coded(http.StatusBadRequest, "Error parsing scheduler config: %v", err)
	}
	var conf struct {
		schedulerConfig
		NodeLimitForFeasibilityChecks uint
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&conf); err != nil {
		return nil, coded(http.StatusBadRequest, "Error parsing scheduler config: %v", err)
	}
	if conf.NodeLimitForFeasibilityChecks != 0 {
		return nil, coded(http.StatusBadRequest, "Error parsing scheduler config: NodeLimitForFeasibilityChecks is newer than Nomad %s", NomadVersion)
	}
	switch conf.SchedulerAlgorithm {
	case "", "binpack", "spread":
	default:
		return nil, coded(http.StatusBadRequest, "invalid scheduler algorithm: %v", conf.SchedulerAlgorithm)
	}
	cas, hasCAS := uint64(0), r.URL.Query().Has("cas")
	if hasCAS {
		if cas, err = strconv.ParseUint(r.URL.Query().Get("cas"), 10, 64); err != nil {
			return nil, coded(http.StatusBadRequest, "Error parsing cas value: %v", err)
		}
	}
	attrs := s.fingerprint(r.Context()) // network I/O: before taking s.mu
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.schedConfig()
	if hasCAS && cas != cur.ModifyIndex {
		return &setConfigResponse{Updated: false, queryMeta: queryMeta{Index: s.index}}, nil
	}
	idx := s.write(tableSchedulerConfig)
	wasPaused := cur.PauseEvalBroker
	next := conf.schedulerConfig
	next.CreateIndex, next.ModifyIndex = cur.CreateIndex, idx
	s.sched = &next
	if wasPaused && !next.PauseEvalBroker {
		s.resumeEvals(attrs)
	}
	return &setConfigResponse{Updated: true, queryMeta: queryMeta{Index: idx}}, nil
}

type setConfigResponse struct {
	Updated bool
	queryMeta
}

// resumeEvals runs, in order, the evaluations left pending while the broker was
// paused, against the job as it is now (a scheduler reads the latest job); callers
// hold s.mu.
func (s *Server) resumeEvals(attrs map[string]string) {
	pending := s.deferred
	s.deferred = nil
	for _, d := range pending {
		if d.eval.Status != evalPending {
			continue // deleted or cancelled meanwhile
		}
		if _, ok := s.evals[d.eval.ID]; !ok {
			continue
		}
		je := s.jobs[nsID{d.eval.Namespace, d.eval.JobID}]
		if je == nil {
			idx := s.write(tableEvals)
			d.eval.Status, d.eval.ModifyIndex, d.eval.ModifyTime = evalComplete, idx, now()
			continue
		}
		s.runEval(d.eval, je.job, attrs, d.specChange)
	}
}

// evaluationsDelete serves DELETE /v1/evaluations (Eval.Delete): only while the eval
// broker is paused, by ID, and only evaluations safe to delete.
func (s *Server) evaluationsDelete(r *http.Request) (any, error) {
	var req struct {
		EvalIDs []string
		Filter  string
		writeRequest
	}
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if req.Filter != "" && len(req.EvalIDs) > 0 {
		return nil, coded(http.StatusBadRequest, "evals cannot be deleted by both ID and filter")
	}
	if req.Filter == "" && len(req.EvalIDs) == 0 {
		return nil, coded(http.StatusBadRequest, "evals must be deleted by either ID or filter")
	}
	if len(req.EvalIDs) > 7281 { // structs.MaxUUIDsPerWriteRequest
		return nil, coded(http.StatusBadRequest, "request includes %v evals IDs, must be %v or fewer", len(req.EvalIDs), 7281)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.brokerPaused() {
		return nil, rpcError(errString("eval broker is enabled; eval broker must be paused to delete evals"))
	}
	if req.Filter != "" {
		// The double has no bexpr filter evaluator (doc.go): refuse, never guess.
		return nil, coded(http.StatusBadRequest, "deleting evaluations by filter is not served by the double")
	}
	for _, id := range req.EvalIDs {
		e := s.evals[id]
		if e == nil {
			return nil, rpcError(errString("eval not found"))
		}
		if !s.evalDeleteSafe(e) {
			return nil, rpcError(fmt.Errorf("eval %s is not safe to delete", e.ID))
		}
	}
	idx := s.write(tableEvals)
	for _, id := range req.EvalIDs {
		delete(s.evals, id)
	}
	return &struct {
		Count int
		queryMeta
	}{len(req.EvalIDs), queryMeta{Index: idx}}, nil
}

// evalDeleteSafe is Nomad's EvalIsUserDeleteSafe: the job is gone, stopped or dead,
// or none of the evaluation's allocations runs (or may be rescheduled after failing).
// Callers hold s.mu.
func (s *Server) evalDeleteSafe(e *api.Evaluation) bool {
	je := s.jobs[nsID{e.Namespace, e.JobID}]
	if je == nil || boolv(je.job.Stop) || str(je.job.Status) == "dead" {
		return true
	}
	for _, a := range s.allocs {
		if a.alloc.EvalID != e.ID {
			continue
		}
		switch a.alloc.ClientStatus {
		case allocRunning, "unknown", allocFailed:
			return false
		}
	}
	return true
}
