package nomadtest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// jobsRequest serves /v1/jobs: GET lists, PUT/POST registers.
func (s *Server) jobsRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	switch r.Method {
	case http.MethodGet:
		return s.listJobs(r)
	case http.MethodPut, http.MethodPost:
		return s.register(r, "")
	}
	return nil, errInvalidMethod
}

// jobSpecificRequest serves /v1/job/<id>[/<what>].
func (s *Server) jobSpecificRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	parts := pathParts(r, "/v1/job/")
	if len(parts) == 0 || parts[0] == "" {
		return nil, coded(http.StatusNotFound, "Missing job ID")
	}
	id := parts[0]
	what := strings.Join(parts[1:], "/")
	get := func(fn func() (any, error)) (any, error) {
		if r.Method != http.MethodGet {
			return nil, errInvalidMethod
		}
		return fn()
	}
	switch what {
	case "":
		switch r.Method {
		case http.MethodGet:
			return s.jobInfo(r, id)
		case http.MethodPut, http.MethodPost:
			return s.register(r, id)
		case http.MethodDelete:
			return s.deregister(r, id)
		}
		return nil, errInvalidMethod
	case "plan":
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			return nil, errInvalidMethod
		}
		return s.plan(r, id)
	case "revert":
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			return nil, errInvalidMethod
		}
		return s.revert(r, id)
	case "evaluate":
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			return nil, errInvalidMethod
		}
		return s.evaluate(r, id)
	case "allocations":
		return get(func() (any, error) { return s.jobAllocations(r, id) })
	case "evaluations":
		return get(func() (any, error) { return s.jobEvaluations(r, id) })
	case "deployments":
		return get(func() (any, error) { return s.jobDeployments(r, id, false) })
	case "deployment":
		return get(func() (any, error) { return s.jobDeployments(r, id, true) })
	case "versions":
		return get(func() (any, error) { return s.jobVersions(r, id) })
	case "summary":
		return get(func() (any, error) { return s.jobSummaryRequest(r, id) })
	case "submission":
		return get(func() (any, error) { return s.jobSubmission(r, id) })
	case "scale":
		return s.jobScale(r, id)
	case "periodic/force":
		return s.periodicForce(r, id)
	}
	return nil, coded(http.StatusNotFound, "Invalid URL")
}

func (s *Server) listJobs(r *http.Request) (any, error) {
	ns := requestNamespace(r)
	prefix := r.URL.Query().Get("prefix")
	withMeta := r.URL.Query().Get("meta") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableJobs, tableJobSummary))
	out := []*api.JobListStub{}
	for key, e := range s.jobs {
		if (ns != "*" && key.ns != ns) || !strings.HasPrefix(key.id, prefix) {
			continue
		}
		j := e.job
		stub := &api.JobListStub{
			ID:                str(j.ID),
			ParentID:          str(j.ParentID),
			Name:              str(j.Name),
			Namespace:         str(j.Namespace),
			Datacenters:       j.Datacenters,
			Type:              str(j.Type),
			Priority:          intv(j.Priority),
			Periodic:          j.Periodic != nil,
			ParameterizedJob:  j.ParameterizedJob != nil,
			Stop:              boolv(j.Stop),
			Status:            str(j.Status),
			StatusDescription: str(j.StatusDescription),
			JobSummary:        s.jobSummary(j),
			CreateIndex:       u64(j.CreateIndex),
			ModifyIndex:       u64(j.ModifyIndex),
			JobModifyIndex:    u64(j.JobModifyIndex),
			SubmitTime:        derefInt64(j.SubmitTime),
		}
		if withMeta {
			stub.Meta = j.Meta
		}
		out = append(out, stub)
	}
	return paginate(r, out, func(j *api.JobListStub) pageKey { return pageKey{withNS: true, ns: j.Namespace, id: j.ID} })
}

func derefInt64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// lookupJob finds a job by the request's namespace; callers hold s.mu.
func (s *Server) lookupJob(r *http.Request, id string) *jobEntry {
	return s.jobs[nsID{requestNamespace(r), id}]
}

func (s *Server) jobInfo(r *http.Request, id string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupJob(r, id)
	if e == nil {
		return nil, coded(http.StatusNotFound, "job not found")
	}
	setIndex(r, u64(e.job.ModifyIndex))
	return e.job, nil
}

func (s *Server) jobSummary(j *api.Job) *api.JobSummary {
	sum := &api.JobSummary{
		JobID:       str(j.ID),
		Namespace:   str(j.Namespace),
		Summary:     map[string]api.TaskGroupSummary{},
		Children:    &api.JobChildrenSummary{},
		CreateIndex: u64(j.CreateIndex),
		ModifyIndex: s.index,
	}
	for _, tg := range j.TaskGroups {
		sum.Summary[str(tg.Name)] = api.TaskGroupSummary{}
	}
	for _, e := range s.allocs {
		a := e.alloc
		if a.JobID != str(j.ID) || a.Namespace != str(j.Namespace) || u64(a.Job.CreateIndex) != u64(j.CreateIndex) {
			continue
		}
		g := sum.Summary[a.TaskGroup]
		switch a.ClientStatus {
		case allocPending:
			g.Starting++
		case allocRunning:
			g.Running++
		case allocComplete:
			g.Complete++
		case allocFailed:
			g.Failed++
		}
		sum.Summary[a.TaskGroup] = g
	}
	for _, ev := range s.evals {
		if ev.JobID == str(j.ID) && ev.Namespace == str(j.Namespace) && ev.Status == evalBlocked {
			if prev := s.evals[ev.PreviousEval]; prev != nil {
				for group, n := range prev.QueuedAllocations {
					g := sum.Summary[group]
					g.Queued += n
					sum.Summary[group] = g
				}
			}
		}
	}
	return sum
}

func (s *Server) jobSummaryRequest(r *http.Request, id string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupJob(r, id)
	if e == nil {
		return nil, coded(http.StatusNotFound, "job not found")
	}
	setIndex(r, s.tableIndex(tableJobSummary))
	return s.jobSummary(e.job), nil
}

// resolveRegion is the agent's regionForJob: the query's region, else the request
// body's, else the job's; "global" means the agent's own. Other regions do not exist.
func (s *Server) resolveRegion(r *http.Request, bodyRegion string, job *api.Job) (string, error) {
	region := r.URL.Query().Get("region")
	if bodyRegion != "" {
		region = bodyRegion
	}
	if region == "" && job != nil && job.Region != nil {
		region = *job.Region
	}
	if region == "" || region == api.GlobalRegion {
		region = s.cfg.Region
	}
	if region != s.cfg.Region {
		return "", rpcError(errors.New("No path to region"))
	}
	return region, nil
}

// jobNamespace is the namespace a submitted job lands in: its own, else the request's.
func jobNamespace(r *http.Request, bodyNamespace string, job *api.Job) string {
	if job != nil && str(job.Namespace) != "" {
		return *job.Namespace
	}
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	if bodyNamespace != "" {
		return bodyNamespace
	}
	return api.DefaultNamespace
}

// admissionChecks runs the admission controllers on a prepared job for the agent's
// Vault flow: in the workload identity flow, a task's vault block first gets its
// implicit identity, as Nomad's job mutators do.
func admissionChecks(job *api.Job, vc *vaultConfig) error {
	identityFlow := vc.enabled() && !vc.tokenFlow()
	if identityFlow {
		canonicalizeIdentities(job)
		addImplicitIdentities(job, vc)
	}
	return admissionErrors(job, vc.enabled(), identityFlow)
}

// admit decodes nothing: it prepares and validates a submitted job as the HTTP agent
// and the server's admission controllers do, returning the canonical job.
func (s *Server) admit(r *http.Request, in *api.Job, wr api.WriteRequest) (*api.Job, error) {
	region, err := s.resolveRegion(r, wr.Region, in)
	if err != nil {
		return nil, err
	}
	job := prepareJob(in, jobNamespace(r, wr.Namespace, in), region)
	vc, err := s.readVaultConfig()
	if err != nil {
		return nil, rpcError(err)
	}
	if err := admissionChecks(job, vc); err != nil {
		return nil, rpcError(err)
	}
	if ns := str(job.Namespace); !s.namespaceExists(ns) {
		return nil, rpcError(fmt.Errorf("job %q is in nonexistent namespace %q", str(job.ID), ns))
	}
	return job, nil
}

// registerResponse is Nomad's JobRegisterResponse as JSON.
type registerResponse struct {
	EvalID          string
	EvalCreateIndex uint64
	JobModifyIndex  uint64
	Warnings        string
	queryMeta
}

func (s *Server) register(r *http.Request, pathID string) (any, error) {
	var args api.JobRegisterRequest
	if err := decodeJobRequest(r, &args); err != nil {
		return nil, err
	}
	if args.Job == nil {
		return nil, coded(http.StatusBadRequest, "Job must be specified")
	}
	if args.Job.ID == nil {
		return nil, coded(http.StatusBadRequest, "Job ID hasn't been provided")
	}
	if pathID != "" && *args.Job.ID != pathID {
		return nil, coded(http.StatusBadRequest, "Job ID does not match name")
	}
	return s.registerArgs(r, &args)
}

// registerArgs is the server's Job.Register for a decoded request.
func (s *Server) registerArgs(r *http.Request, args *api.JobRegisterRequest) (any, error) {
	if args.Job.Type != nil && *args.Job.Type == api.JobTypeSystem {
		for _, tg := range args.Job.TaskGroups {
			if tg.Scaling != nil {
				return nil, coded(http.StatusBadRequest, "Task groups with job type system do not support scaling blocks")
			}
		}
	}
	if err := validateEvalPriority(args.EvalPriority); err != nil {
		return nil, err
	}
	job, err := s.admit(r, args.Job, args.WriteRequest)
	if err != nil {
		return nil, err
	}
	attrs := s.fingerprint(r.Context())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, rpcError(errClosed)
	}
	key := nsID{str(job.Namespace), str(job.ID)}
	existing := s.jobs[key]
	if args.EnforceIndex {
		jmi := args.JobModifyIndex
		switch {
		case existing != nil && jmi == 0:
			return nil, rpcError(fmt.Errorf("%s 0: job already exists", api.RegisterEnforceIndexErrPrefix))
		case existing != nil && jmi != u64(existing.job.JobModifyIndex):
			return nil, rpcError(fmt.Errorf("%s %d: job exists with conflicting job modify index: %d",
				api.RegisterEnforceIndexErrPrefix, jmi, u64(existing.job.JobModifyIndex)))
		case existing == nil && jmi != 0:
			return nil, rpcError(fmt.Errorf("%s %d: job does not exist", api.RegisterEnforceIndexErrPrefix, jmi))
		}
	}
	if args.PreserveCounts && existing != nil {
		for _, tg := range job.TaskGroups {
			if old := lookupGroup(existing.job, str(tg.Name)); old != nil {
				tg.Count = new(intv(old.Count))
			}
		}
	}
	changed := existing == nil || specChanged(existing.job, job)
	if changed {
		s.storeVersion(key, job)
	} else {
		job = existing.job
	}
	s.registrations[key]++
	warnings := s.keepSubmission(key, args.Submission)
	eval := s.newEval(job, "job-register")
	if args.EvalPriority != 0 {
		eval.Priority = args.EvalPriority
	}
	s.runEval(eval, job, attrs, changed)
	return &registerResponse{
		EvalID:          eval.ID,
		EvalCreateIndex: eval.CreateIndex,
		JobModifyIndex:  u64(job.JobModifyIndex),
		Warnings:        warnings,
		queryMeta:       queryMeta{Index: eval.CreateIndex, KnownLeader: true},
	}, nil
}

// storeVersion makes job the next version of key; callers hold s.mu.
func (s *Server) storeVersion(key nsID, job *api.Job) {
	idx := s.write(tableJobs, tableJobVersion, tableJobSummary)
	existing := s.jobs[key]
	job.JobModifyIndex, job.ModifyIndex = new(idx), new(idx)
	job.SubmitTime = new(time.Now().UnixNano())
	job.Status, job.StatusDescription, job.Stable = new("pending"), new(""), new(false)
	if existing == nil {
		job.CreateIndex, job.Version = new(idx), new(uint64(0))
		existing = &jobEntry{}
		s.jobs[key] = existing
	} else {
		job.CreateIndex = new(u64(existing.job.CreateIndex))
		job.Version = new(u64(existing.job.Version) + 1)
	}
	existing.job = job
	existing.versions = append([]*api.Job{job}, existing.versions...)
	if len(existing.versions) > maxTrackedVersions {
		existing.versions = existing.versions[:maxTrackedVersions]
	}
}

// deregisterResponse is Nomad's JobDeregisterResponse as JSON.
type deregisterResponse struct {
	EvalID          string
	EvalCreateIndex uint64
	JobModifyIndex  uint64
	queryMeta
}

func (s *Server) deregister(r *http.Request, id string) (any, error) {
	q := r.URL.Query()
	purge, err := boolParam(q, "purge")
	if err != nil {
		return nil, err
	}
	// global (multiregion) and no_shutdown_delay change nothing on one region and a
	// double without shutdown delays, but must parse as Nomad parses them.
	for _, name := range []string{"global", "no_shutdown_delay"} {
		if _, err := boolParam(q, name); err != nil {
			return nil, err
		}
	}
	evalPriority := 0
	if raw := q.Get("eval_priority"); raw != "" {
		if evalPriority, err = strconv.Atoi(raw); err != nil {
			return nil, coded(http.StatusBadRequest, "Failed to parse value of %q (%v) as a int: %v", "eval_priority", raw, err)
		}
		if err := validateEvalPriority(evalPriority); err != nil {
			return nil, err
		}
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, rpcError(errClosed)
	}
	key := nsID{requestNamespace(r), id}
	e := s.jobs[key]
	var job *api.Job
	switch {
	case e == nil:
		// Nomad still makes an evaluation for a job it does not know.
		job = &api.Job{ID: &id, Namespace: &key.ns, Type: new(api.JobTypeService), Priority: new(api.JobDefaultPriority)}
		ev := s.newEval(job, "job-deregister")
		if evalPriority != 0 {
			ev.Priority = evalPriority
		}
		ev.Status, ev.ModifyIndex = evalComplete, s.write(tableEvals)
		return &deregisterResponse{EvalID: ev.ID, EvalCreateIndex: ev.CreateIndex, queryMeta: queryMeta{Index: ev.CreateIndex, KnownLeader: true}}, nil
	case purge:
		job = copyJob(e.job)
		job.Stop = new(true)
		delete(s.jobs, key)
		s.write(tableJobs, tableJobVersion, tableJobSummary, tableJobSubmission)
	default:
		job = copyJob(e.job)
		job.Stop = new(true)
		s.storeVersion(key, job)
	}
	eval := s.newEval(job, "job-deregister")
	if evalPriority != 0 {
		eval.Priority = evalPriority
	}
	s.runEval(eval, job, attrs, false)
	return &deregisterResponse{
		EvalID:          eval.ID,
		EvalCreateIndex: eval.CreateIndex,
		JobModifyIndex:  u64(job.JobModifyIndex),
		queryMeta:       queryMeta{Index: eval.CreateIndex, KnownLeader: true},
	}, nil
}

// validateEvalPriority is the agent's check of an eval priority option; 0 means the
// job's priority.
func validateEvalPriority(p int) error {
	if p != 0 && (p < 1 || p > 100) {
		return coded(http.StatusBadRequest, "Eval priority must be between 1 and 100 inclusively")
	}
	return nil
}

// boolParam parses a boolean query parameter as Nomad's agent does; absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	raw := q.Get(name)
	if raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, coded(http.StatusBadRequest, "Failed to parse value of %q (%v) as a bool: %v", name, raw, err)
	}
	return v, nil
}

func (s *Server) plan(r *http.Request, pathID string) (any, error) {
	var args api.JobPlanRequest
	if err := decodeJobRequest(r, &args); err != nil {
		return nil, err
	}
	if args.Job == nil {
		return nil, coded(http.StatusBadRequest, "Job must be specified")
	}
	if args.Job.ID == nil {
		return nil, coded(http.StatusBadRequest, "Job must have a valid ID")
	}
	if *args.Job.ID != pathID {
		return nil, coded(http.StatusBadRequest, "Job ID does not match")
	}
	job, err := s.admit(r, args.Job, args.WriteRequest)
	if err != nil {
		return nil, err
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *api.Job
	var index uint64
	if e := s.jobs[nsID{str(job.Namespace), str(job.ID)}]; e != nil {
		old, index = e.job, u64(e.job.JobModifyIndex)
	}
	p := s.reconcile(job, attrs)
	resp := &api.JobPlanResponse{JobModifyIndex: index, Annotations: p.annotations}
	if len(p.failed) > 0 {
		resp.FailedTGAllocs = p.failed
	}
	if len(p.failed) > 0 {
		// The scheduler of a plan creates, and the plan answer shows, the blocked
		// evaluation that would wait for the groups it cannot place; it is not stored.
		planEval := &api.Evaluation{ID: uuid(), Priority: intv(job.Priority)}
		resp.CreatedEvals = []*api.Evaluation{blockedEval(job, planEval, s.index)}
	}
	if args.Diff {
		d := jobDiff(old, job)
		annotate(d, p.annotations)
		resp.Diff = d
	}
	return resp, nil
}

func (s *Server) jobVersions(r *http.Request, id string) (any, error) {
	diffs := r.URL.Query().Get("diffs") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupJob(r, id)
	if e == nil {
		return nil, coded(http.StatusNotFound, "job versions not found")
	}
	out := struct {
		Versions []*api.Job
		Diffs    []*api.JobDiff
		queryMeta
	}{Versions: e.versions, queryMeta: queryMeta{Index: s.tableIndex(tableJobVersion), KnownLeader: true}}
	if diffs {
		for i := 0; i+1 < len(e.versions); i++ {
			out.Diffs = append(out.Diffs, jobDiff(e.versions[i+1], e.versions[i]))
		}
	}
	return out, nil
}

func (s *Server) jobAllocations(r *http.Request, id string) (any, error) {
	all := r.URL.Query().Get("all") == "true"
	ns := requestNamespace(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableAllocs))
	var createIndex uint64
	if e := s.jobs[nsID{ns, id}]; e != nil {
		createIndex = u64(e.job.CreateIndex)
	}
	out := []*api.AllocationListStub{}
	for _, e := range s.sortedAllocs() {
		a := e.alloc
		if a.JobID != id || a.Namespace != ns {
			continue
		}
		if !all && createIndex != 0 && u64(a.Job.CreateIndex) != createIndex {
			continue
		}
		out = append(out, allocStub(a))
	}
	return out, nil
}

// sortedAllocs is every allocation, newest first; callers hold s.mu.
func (s *Server) sortedAllocs() []*allocEntry {
	out := make([]*allocEntry, 0, len(s.allocs))
	for _, e := range s.allocs {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].alloc.CreateIndex > out[j].alloc.CreateIndex })
	return out
}

func allocStub(a *api.Allocation) *api.AllocationListStub {
	return &api.AllocationListStub{
		ID:                 a.ID,
		EvalID:             a.EvalID,
		Name:               a.Name,
		Namespace:          a.Namespace,
		NodeID:             a.NodeID,
		NodeName:           a.NodeName,
		JobID:              a.JobID,
		JobType:            str(a.Job.Type),
		JobVersion:         u64(a.Job.Version),
		TaskGroup:          a.TaskGroup,
		DesiredStatus:      a.DesiredStatus,
		DesiredDescription: a.DesiredDescription,
		ClientStatus:       a.ClientStatus,
		ClientDescription:  a.ClientDescription,
		TaskStates:         a.TaskStates,
		DeploymentStatus:   a.DeploymentStatus,
		FollowupEvalID:     a.FollowupEvalID,
		NextAllocation:     a.NextAllocation,
		CreateIndex:        a.CreateIndex,
		ModifyIndex:        a.ModifyIndex,
		CreateTime:         a.CreateTime,
		ModifyTime:         a.ModifyTime,
	}
}

func (s *Server) jobEvaluations(r *http.Request, id string) (any, error) {
	ns := requestNamespace(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableEvals))
	out := []*api.Evaluation{}
	for _, e := range s.evals {
		if e.JobID == id && e.Namespace == ns {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
	return out, nil
}

func (s *Server) jobDeployments(r *http.Request, id string, latest bool) (any, error) {
	ns := requestNamespace(r)
	all := r.URL.Query().Get("all") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableDeployments))
	var createIndex uint64
	if e := s.jobs[nsID{ns, id}]; e != nil {
		createIndex = u64(e.job.CreateIndex)
	}
	out := []*api.Deployment{}
	for _, d := range s.deployments {
		if d.JobID != id || d.Namespace != ns {
			continue
		}
		if !all && createIndex != 0 && d.JobCreateIndex != createIndex {
			continue
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
	if latest {
		if len(out) == 0 {
			return nil, nil // JSON null, as Nomad answers
		}
		return out[0], nil
	}
	return out, nil
}
