package nomadtest

import (
	"net/http"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Node drain (PUT /v1/node/<id>/drain), as Nomad 1.6's Node.UpdateDrain and its
// drainer: draining marks the node ineligible and migrates its allocations (stopped
// with "alloc is being migrated", their replacements blocked while no node is
// eligible); once none is left to migrate the drain completes, leaving the node
// ineligible. A nil DrainSpec cancels a drain, and MarkEligible makes the node eligible.

// drainState is the node's drain, kept with its record; guarded by s.mu.
type drainState struct {
	strategy *api.DrainStrategy
	last     *api.DrainMetadata
}

func (s *Server) nodeDrain(r *http.Request, id string) (any, error) {
	var req struct {
		NodeID       string
		DrainSpec    *api.DrainSpec
		MarkEligible bool
		Meta         map[string]string
		writeRequest
	}
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if req.NodeID == "" {
		req.NodeID = id
	}
	if req.NodeID != id {
		return nil, coded(http.StatusBadRequest, "Node ID does not match request")
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.nodeRec
	if rec == nil || id != s.node.ID {
		return nil, rpcError(errString("node not found"))
	}
	now := time.Now().UTC()
	idx := s.write(tableNodes)
	rec.modifyIndex = idx
	var evalIDs []string
	var evalIndex uint64
	if req.DrainSpec != nil {
		spec := *req.DrainSpec
		strategy := &api.DrainStrategy{DrainSpec: spec, StartedAt: now}
		if spec.Deadline > 0 {
			strategy.ForceDeadline = now.Add(spec.Deadline)
		}
		if rec.drain.strategy == nil {
			rec.drain.last = &api.DrainMetadata{StartedAt: now, UpdatedAt: now, Status: api.DrainStatusDraining, Meta: req.Meta}
		} else {
			rec.drain.last.UpdatedAt, rec.drain.last.Meta = now, req.Meta
			strategy.StartedAt = rec.drain.strategy.StartedAt
		}
		rec.drain.strategy = strategy
		rec.eligibility = api.NodeSchedulingIneligible
		s.nodeEvent(idx, "Node drain strategy set")
		s.publishNode(idx, "NodeDrain")
		// The drainer works after the write: it migrates and then completes.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runDrainer(strategy, attrs)
		}()
	} else {
		if rec.drain.strategy != nil {
			rec.drain.strategy = nil
			rec.drain.last.Status, rec.drain.last.UpdatedAt = api.DrainStatusCanceled, now
			if req.Meta != nil {
				rec.drain.last.Meta = req.Meta
			}
			s.nodeEvent(idx, "Node drain strategy cleared")
		}
		if req.MarkEligible && rec.eligibility != api.NodeSchedulingEligible {
			rec.eligibility = api.NodeSchedulingEligible
			s.nodeEvent(idx, "Node marked as eligible for scheduling")
			s.unblockEvals(attrs)
		}
		s.publishNode(idx, "NodeDrain")
	}
	return &struct {
		NodeModifyIndex uint64
		EvalIDs         []string
		EvalCreateIndex uint64
		queryMeta
	}{idx, evalIDs, evalIndex, queryMeta{Index: idx}}, nil
}

// runDrainer migrates the node's allocations (system jobs' only at the deadline, or
// never with IgnoreSystemJobs) and then marks the drain complete, unless it was
// cancelled or replaced meanwhile.
func (s *Server) runDrainer(strategy *api.DrainStrategy, attrs map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.nodeRec
	if s.closed || rec == nil || rec.drain.strategy != strategy {
		return
	}
	jobs := map[nsID]bool{}
	for _, e := range s.sortedAllocs() {
		a := e.alloc
		if a.NodeID != s.node.ID || a.DesiredStatus != allocDesiredRun || clientTerminal(a.ClientStatus) {
			continue
		}
		if a.Job != nil && str(a.Job.Type) == api.JobTypeSystem {
			continue // system allocations stay until the node is done (Nomad: at the deadline)
		}
		s.stopAlloc(e, "alloc is being migrated")
		jobs[nsID{a.Namespace, a.JobID}] = true
	}
	for key := range jobs {
		if je := s.jobs[key]; je != nil {
			eval := s.newEval(je.job, "node-drain")
			eval.NodeID = s.node.ID
			s.runEval(eval, je.job, attrs, false)
		}
	}
	idx := s.write(tableNodes)
	rec.modifyIndex = idx
	rec.drain.strategy = nil
	rec.drain.last.Status, rec.drain.last.UpdatedAt = api.DrainStatusComplete, time.Now().UTC()
	s.nodeEvent(idx, "Node drain complete")
	s.publishNode(idx, "NodeDrain")
}

func clientTerminal(status string) bool {
	return status == allocComplete || status == allocFailed || status == "lost"
}

func copyDrainStrategy(d *api.DrainStrategy) *api.DrainStrategy {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}

func copyDrainMetadata(m *api.DrainMetadata) *api.DrainMetadata {
	if m == nil {
		return nil
	}
	c := *m
	if m.Meta != nil {
		c.Meta = make(map[string]string, len(m.Meta))
		for k, v := range m.Meta {
			c.Meta[k] = v
		}
	}
	return &c
}
