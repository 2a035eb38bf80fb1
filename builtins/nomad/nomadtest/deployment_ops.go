package nomadtest

import (
	"errors"
	"net/http"

	"github.com/hashicorp/nomad/api"
)

// Deployment operations of Nomad 1.6's deployment watcher: fail and pause/resume.
// Promotion (canaries) and manual allocation health are not served (doc.go).

const (
	deployPaused            = "paused"
	deployDescRunning       = "Deployment is running"
	deployDescPaused        = "Deployment is paused"
	deployDescFailedByUser  = "Deployment marked as failed"
	evalTriggerDeployWatch  = "deployment-watcher"
	errDeploymentIDMismatch = "Deployment ID does not match"
)

// deploymentUpdateResponse is Nomad's DeploymentUpdateResponse as JSON.
type deploymentUpdateResponse struct {
	EvalID                string
	EvalCreateIndex       uint64
	DeploymentModifyIndex uint64
	RevertedJobVersion    *uint64
	queryMeta
}

// deploymentOp serves PUT /v1/deployment/{fail,pause}/:id.
func (s *Server) deploymentOp(r *http.Request, op, id string) (any, error) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return nil, errInvalidMethod
	}
	pause := false
	switch op {
	case "fail":
	case "pause":
		var args api.DeploymentPauseRequest
		if err := decodeStrict(r, &args); err != nil {
			return nil, err
		}
		if args.DeploymentID != id {
			return nil, coded(http.StatusBadRequest, errDeploymentIDMismatch)
		}
		pause = args.Pause
	default:
		return nil, coded(http.StatusNotFound, "Invalid URL")
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[id]
	if d == nil || !namespaceMatches(r, d.Namespace) {
		return nil, rpcError(errors.New("deployment not found"))
	}
	active := d.Status == deployRunning || d.Status == deployPaused
	var job *api.Job
	if e := s.jobs[nsID{d.Namespace, d.JobID}]; e != nil {
		job = e.job
	}
	resp := &deploymentUpdateResponse{}
	switch {
	case op == "fail" && !active:
		return nil, rpcError(errors.New("can't fail terminal deployment"))
	case op == "pause" && !active && pause:
		return nil, rpcError(errors.New("can't pause terminal deployment"))
	case op == "pause" && !active:
		return nil, rpcError(errors.New("can't resume terminal deployment"))
	case op == "fail":
		s.setDeploymentStatus(d, deployFailed, deployDescFailedByUser)
	case pause:
		s.setDeploymentStatus(d, deployPaused, deployDescPaused)
	default:
		wasPaused := d.Status == deployPaused
		s.setDeploymentStatus(d, deployRunning, deployDescRunning)
		if wasPaused {
			s.wg.Add(1)
			go s.watchProgress(d.ID)
		}
	}
	resp.DeploymentModifyIndex = d.ModifyIndex
	// Failing or resuming creates an evaluation of the job, as the watcher does.
	if (op == "fail" || !pause) && job != nil {
		eval := s.newEval(job, evalTriggerDeployWatch)
		eval.DeploymentID = d.ID
		s.runEval(eval, job, attrs, false)
		resp.EvalID, resp.EvalCreateIndex = eval.ID, eval.CreateIndex
	}
	resp.Index = max(resp.EvalCreateIndex, resp.DeploymentModifyIndex)
	resp.KnownLeader = true
	return resp, nil
}
