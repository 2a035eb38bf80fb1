package nomadtest

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// Job submissions (Nomad 1.6): the source a job was registered from, kept per job
// version, for the versions still tracked, until the job is purged.

// maxSourceSize is the server's default job_max_source_size, "1M", which Nomad reads
// with go-humanize: 1,000,000 bytes.
const maxSourceSize = 1_000_000

// tableJobSubmission is the state store table of submissions.
const tableJobSubmission = "job_submission"

// keepSubmission records sub for the job's current version, or warns and discards it
// when it is larger than job_max_source_size, as Nomad does. Callers hold s.mu.
func (s *Server) keepSubmission(key nsID, sub *api.JobSubmission) string {
	if sub == nil {
		return ""
	}
	if size := len(sub.Source) + len(sub.Variables); size > maxSourceSize {
		return fmt.Sprintf("job source size of %s exceeds maximum of %s and will be discarded", humanBytes(size), humanBytes(maxSourceSize))
	}
	e := s.jobs[key]
	if e == nil {
		return ""
	}
	if e.submissions == nil {
		e.submissions = map[uint64]*api.JobSubmission{}
	}
	cp := *sub
	if len(cp.VariableFlags) == 0 {
		cp.VariableFlags = nil
	}
	e.submissions[u64(e.job.Version)] = &cp
	// Versions no longer tracked lose their submission.
	for v := range e.submissions {
		tracked := false
		for _, j := range e.versions {
			tracked = tracked || u64(j.Version) == v
		}
		if !tracked {
			delete(e.submissions, v)
		}
	}
	s.write(tableJobSubmission)
	return ""
}

// humanBytes is go-humanize's Bytes (SI units), which Nomad's warning uses.
func humanBytes(n int) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n), []string{"kB", "MB", "GB"}
	unit := ""
	for _, u := range units {
		f /= 1000
		unit = u
		if f < 1000 {
			break
		}
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, unit)
	}
	return fmt.Sprintf("%.0f %s", f, unit)
}

// jobSubmission serves GET /v1/job/:id/submission?version=N.
func (s *Server) jobSubmission(r *http.Request, id string) (any, error) {
	raw := r.URL.Query().Get("version")
	version, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return nil, coded(http.StatusBadRequest, "Unable to parse job submission version parameter: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableJobSubmission))
	if e := s.lookupJob(r, id); e != nil {
		if sub := e.submissions[version]; sub != nil {
			return sub, nil
		}
	}
	return nil, coded(http.StatusNotFound, "job source not found")
}
