package nomadtest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// periodicForce serves PUT /v1/job/<id>/periodic/force (Periodic.Force): it launches
// a periodic job now, as Nomad's periodic dispatcher does, by registering a child job
// "<id>/periodic-<unix time>" (no periodic block, ParentID the parent) and evaluating
// it. The double makes no launches on the cron schedule itself (doc.go).
func (s *Server) periodicForce(r *http.Request, id string) (any, error) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return nil, errInvalidMethod
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := requestNamespace(r)
	e := s.jobs[nsID{ns, id}]
	if e == nil {
		return nil, rpcError(errors.New("job not found"))
	}
	parent := e.job
	if parent.Periodic == nil || !boolv(parent.Periodic.Enabled) {
		return nil, rpcError(errors.New("can't force launch non-periodic job"))
	}
	if boolv(parent.Stop) {
		// A stopped periodic job is no longer tracked by the dispatcher.
		return nil, rpcError(fmt.Errorf("can't force run non-tracked job %s (%s)", id, ns))
	}
	child := copyJob(parent)
	childID := id + "/periodic-" + strconv.FormatInt(time.Now().Unix(), 10)
	child.ID, child.Name, child.ParentID = new(childID), new(childID), new(id)
	child.Periodic = nil
	key := nsID{ns, childID}
	s.storeVersion(key, child)
	eval := s.newEval(child, "periodic-job")
	s.runEval(eval, child, attrs, true)
	return &struct {
		EvalID          string
		EvalCreateIndex uint64
		queryMeta
	}{eval.ID, eval.CreateIndex, queryMeta{Index: eval.CreateIndex, KnownLeader: true}}, nil
}
