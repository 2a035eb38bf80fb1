package nomadtest

import (
	"errors"
	"net/http"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/nomad/api"
)

// validateJobRequest serves PUT /v1/validate/job: the admission checks of a register,
// answered as a JobValidateResponse (validation errors are the answer, not an HTTP
// error), as Nomad 1.6's Job.Validate does.
func (s *Server) validateJobRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return nil, errInvalidMethod
	}
	var args api.JobValidateRequest
	if err := decodeJobRequest(r, &args); err != nil {
		return nil, err
	}
	if args.Job == nil {
		return nil, coded(http.StatusBadRequest, "Job must be specified")
	}
	region, err := s.resolveRegion(r, args.Region, args.Job)
	if err != nil {
		return nil, err
	}
	job := prepareJob(args.Job, jobNamespace(r, args.Namespace, args.Job), region)
	vc, err := s.readVaultConfig()
	if err != nil {
		return nil, rpcError(err)
	}
	resp := &api.JobValidateResponse{DriverConfigValidated: true}
	if err := admissionChecks(job, vc); err != nil {
		resp.Error = err.Error()
		var merr *multierror.Error
		if errors.As(err, &merr) {
			for _, e := range merr.Errors {
				resp.ValidationErrors = append(resp.ValidationErrors, e.Error())
			}
		} else {
			resp.ValidationErrors = []string{err.Error()}
		}
	}
	return resp, nil
}
