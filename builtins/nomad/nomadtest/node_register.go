package nomadtest

import (
	"time"

	"github.com/hashicorp/nomad/api"
)

// nodeRecord is the server's record of the client node, as Node.Register writes it:
// nil until the client has registered (and always with Config.NoClient).
type nodeRecord struct {
	createIndex, modifyIndex uint64
	statusUpdatedAt          int64 // Unix seconds, as Nomad's StatusUpdatedAt
	eligibility              string
	events                   []*api.NodeEvent
	drain                    drainState
}

// Nomad keeps at most this many node events (structs.MaxRetainedNodeEvents).
const maxNodeEvents = 10

// startClient registers the client node after the agent is up, as a Nomad client
// registers with its server once the server answers: at index 1 before New returns
// when Config.NodeRegisterAfter is zero, else that long after, on its own goroutine.
// Evaluations blocked meanwhile (no node to place on) are then unblocked.
func (s *Server) startClient() {
	if s.cfg.NoClient {
		return
	}
	if s.cfg.NodeRegisterAfter <= 0 {
		s.mu.Lock()
		s.registerNode(s.index)
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-time.After(s.cfg.NodeRegisterAfter):
		case <-s.ctx.Done():
			return
		}
		attrs := s.fingerprint(s.ctx)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		s.registerNode(s.write(tableNodes))
		s.unblockEvals(attrs)
	}()
}

// registerNode records the node's registration at idx; callers hold s.mu.
func (s *Server) registerNode(idx uint64) {
	if s.tables == nil {
		s.tables = map[string]uint64{}
	}
	s.tables[tableNodes] = idx
	s.nodeRec = &nodeRecord{
		createIndex:     idx,
		modifyIndex:     idx,
		statusUpdatedAt: time.Now().Unix(),
		eligibility:     api.NodeSchedulingEligible,
	}
	s.nodeEvent(idx, "Node registered")
	s.publishNode(idx, "NodeRegistration")
}

// nodeEvent appends a Cluster event to the node's history; callers hold s.mu.
func (s *Server) nodeEvent(idx uint64, msg string) {
	rec := s.nodeRec
	rec.events = append(rec.events, &api.NodeEvent{Message: msg, Subsystem: "Cluster", Timestamp: time.Now().UTC(), CreateIndex: idx})
	if len(rec.events) > maxNodeEvents {
		rec.events = rec.events[len(rec.events)-maxNodeEvents:]
	}
}

// nodeReady: the node is registered and eligible, so the scheduler may place on it.
// Callers hold s.mu.
func (s *Server) nodeReady() bool {
	return s.nodeRec != nil && s.nodeRec.eligibility == api.NodeSchedulingEligible
}

// unblockEvals re-runs the blocked evaluations once the node can take placements, as
// Nomad's blocked-evals tracker does when a node registers or becomes eligible.
// Callers hold s.mu.
func (s *Server) unblockEvals(attrs map[string]string) {
	var blocked []*api.Evaluation
	for _, e := range s.evals {
		if e.Status == evalBlocked {
			blocked = append(blocked, e)
		}
	}
	for _, e := range blocked {
		je := s.jobs[nsID{e.Namespace, e.JobID}]
		if je == nil || e.Status != evalBlocked {
			continue
		}
		e.Status = evalPending
		e.ModifyIndex, e.ModifyTime = s.write(tableEvals), now()
		s.runEval(e, je.job, attrs, false)
	}
}
