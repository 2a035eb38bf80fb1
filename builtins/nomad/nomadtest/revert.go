package nomadtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/nomad/api"
)

// revert serves PUT /v1/job/:id/revert as Nomad 1.6's Job.Revert: the chosen version
// is registered again (a new version), optionally only if the current version is
// EnforcePriorVersion.
func (s *Server) revert(r *http.Request, id string) (any, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, coded(http.StatusBadRequest, "%v", err)
	}
	// A 1.6 client's JobRevertRequest still had ConsulToken and VaultToken; like the
	// job's own, they are accepted and not kept (see nomad16JobFields).
	r.Body = io.NopCloser(bytes.NewReader(withoutTopFields(body, nomad16JobFields)))
	var args api.JobRevertRequest
	if err := decodeStrict(r, &args); err != nil {
		return nil, err
	}
	if args.JobID == "" {
		return nil, coded(http.StatusBadRequest, "JobID must be specified")
	}
	if args.JobID != id {
		return nil, coded(http.StatusBadRequest, "Job ID does not match")
	}
	ns := requestNamespace(r)
	if args.Namespace != "" && r.URL.Query().Get("namespace") == "" {
		ns = args.Namespace
	}
	s.mu.Lock()
	e := s.jobs[nsID{ns, id}]
	var cur, target *api.Job
	if e != nil {
		cur = e.job
		for _, v := range e.versions {
			if u64(v.Version) == args.JobVersion {
				target = copyJob(v)
			}
		}
	}
	s.mu.Unlock()
	switch {
	case cur == nil:
		return nil, rpcError(fmt.Errorf("job %q not found", id))
	case args.JobVersion == u64(cur.Version):
		return nil, rpcError(errors.New("can't revert to current version"))
	case target == nil:
		return nil, rpcError(fmt.Errorf("job %q in namespace %q at version %d not found", id, ns, args.JobVersion))
	}
	reg := &api.JobRegisterRequest{Job: target, WriteRequest: args.WriteRequest}
	if p := args.EnforcePriorVersion; p != nil {
		if u64(cur.Version) != *p {
			return nil, rpcError(fmt.Errorf("Current job has version %d; enforcing version %d", u64(cur.Version), *p))
		}
		reg.EnforceIndex, reg.JobModifyIndex = true, u64(cur.JobModifyIndex)
	}
	// The stored version carries server-set fields; a register sets them anew.
	target.Version, target.Stable, target.Status, target.StatusDescription = nil, nil, nil, nil
	target.CreateIndex, target.ModifyIndex, target.JobModifyIndex, target.SubmitTime = nil, nil, nil, nil
	return s.registerArgs(r, reg)
}

// evaluate serves PUT /v1/job/:id/evaluate (Job.Evaluate): a new evaluation of the
// job as it is.
func (s *Server) evaluate(r *http.Request, id string) (any, error) {
	var args api.JobEvaluateRequest
	if r.ContentLength != 0 {
		if err := decodeStrict(r, &args); err != nil {
			return nil, err
		}
		if args.JobID != "" && args.JobID != id {
			return nil, coded(http.StatusBadRequest, "Job ID does not match")
		}
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupJob(r, id)
	switch {
	case e == nil:
		return nil, rpcError(errors.New("job not found"))
	case e.job.Periodic != nil && boolv(e.job.Periodic.Enabled):
		return nil, rpcError(errors.New("can't evaluate periodic job"))
	case e.job.ParameterizedJob != nil:
		return nil, rpcError(errors.New("can't evaluate parameterized job"))
	}
	eval := s.newEval(e.job, "job-register")
	s.runEval(eval, e.job, attrs, false)
	return &registerResponse{
		EvalID:          eval.ID,
		EvalCreateIndex: eval.CreateIndex,
		JobModifyIndex:  u64(e.job.JobModifyIndex),
		queryMeta:       queryMeta{Index: eval.CreateIndex, KnownLeader: true},
	}, nil
}
