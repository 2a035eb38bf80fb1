package nomadtest

import (
	"net/http"

	"github.com/hashicorp/nomad/api"
)

// allocStopResponse is Nomad's AllocStopResponse as JSON.
type allocStopResponse struct {
	EvalID string
	queryMeta
}

// allocStop serves PUT /v1/allocation/:id/stop as Nomad 1.6's Alloc.Stop: the
// allocation is marked to migrate, and the evaluation that follows stops it and places
// its replacement. ?no_shutdown_delay= is recorded in the desired transition.
func (s *Server) allocStop(r *http.Request, id string) (any, error) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return nil, errInvalidMethod
	}
	noDelay, err := boolParam(r.URL.Query(), "no_shutdown_delay")
	if err != nil {
		return nil, err
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.allocs[id]
	if e == nil || !namespaceMatches(r, e.alloc.Namespace) {
		return nil, coded(http.StatusNotFound, "Unknown allocation %q", id)
	}
	e.alloc.DesiredTransition = api.DesiredTransition{Migrate: new(true)}
	if noDelay {
		e.alloc.DesiredTransition.NoShutdownDelay = new(true)
	}
	job := e.alloc.Job
	if cur := s.jobs[nsID{e.alloc.Namespace, e.alloc.JobID}]; cur != nil {
		job = cur.job
	}
	eval := s.newEval(job, "alloc-stop")
	if e.alloc.DesiredStatus == allocDesiredRun {
		s.stopAlloc(e, "alloc is being migrated")
	}
	s.runEval(eval, job, attrs, false)
	return &allocStopResponse{EvalID: eval.ID, queryMeta: queryMeta{Index: eval.CreateIndex, KnownLeader: true}}, nil
}
