package nomadtest

import (
	"fmt"
	"path"
	"reflect"
	"sort"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Allocation, evaluation and deployment statuses, as nomad/structs spells them.
const (
	allocDesiredRun  = "run"
	allocDesiredStop = "stop"

	allocPending  = "pending"
	allocRunning  = "running"
	allocComplete = "complete"
	allocFailed   = "failed"

	evalPending  = "pending"
	evalComplete = "complete"
	evalBlocked  = "blocked"
	evalCanceled = "canceled"

	deployRunning    = "running"
	deployFailed     = "failed"
	deploySuccessful = "successful"
	deployCancelled  = "cancelled"
)

// allocEntry is an allocation and what the simulated client holds for it.
type allocEntry struct {
	alloc  *api.Allocation
	runner *allocRunner
	index  int // the N of "job.group[N]"
}

// placement is one allocation the scheduler wants to create.
type placement struct {
	group    *api.TaskGroup
	index    int
	previous *allocEntry // the allocation it replaces, if any
}

// schedPlan is one scheduler pass over a job: what the reconciler wants and what the
// feasibility checks allow.
type schedPlan struct {
	annotations *api.PlanAnnotations
	failed      map[string]*api.AllocationMetric
	queued      map[string]int
	stops       []*allocEntry
	stopReason  map[*allocEntry]string
	inplace     []*allocEntry
	places      []placement
}

// liveAllocs are the allocations of a job the scheduler still counts: desired to run
// and not terminal (plus completed ones of batch jobs, which are done, not missing).
func (s *Server) liveAllocs(ns, jobID, jobType string) []*allocEntry {
	var out []*allocEntry
	for _, e := range s.allocs {
		a := e.alloc
		if a.Namespace != ns || a.JobID != jobID || a.DesiredStatus != allocDesiredRun {
			continue
		}
		switch a.ClientStatus {
		case allocPending, allocRunning:
			out = append(out, e)
		case allocComplete:
			if jobType == api.JobTypeBatch || jobType == api.JobTypeSysbatch {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}

// reconcile computes the scheduler's plan for job against the live allocations.
// Callers hold s.mu; attrs are the node's fingerprinted attributes.
func (s *Server) reconcile(job *api.Job, attrs map[string]string) *schedPlan {
	p := &schedPlan{
		annotations: &api.PlanAnnotations{DesiredTGUpdates: map[string]*api.DesiredUpdates{}},
		failed:      map[string]*api.AllocationMetric{},
		queued:      map[string]int{},
		stopReason:  map[*allocEntry]string{},
	}
	ns, id, jobType := str(job.Namespace), str(job.ID), str(job.Type)
	byGroup := map[string][]*allocEntry{}
	for _, e := range s.liveAllocs(ns, id, jobType) {
		byGroup[e.alloc.TaskGroup] = append(byGroup[e.alloc.TaskGroup], e)
	}
	stop := func(e *allocEntry, reason string) {
		p.stops = append(p.stops, e)
		p.stopReason[e] = reason
	}

	if boolv(job.Stop) {
		for group, entries := range byGroup {
			for _, e := range entries {
				stop(e, "alloc not needed due to job update")
			}
			p.annotations.DesiredTGUpdates[group] = &api.DesiredUpdates{Stop: uint64(len(entries))}
		}
		for _, tg := range job.TaskGroups {
			if _, ok := p.annotations.DesiredTGUpdates[str(tg.Name)]; !ok {
				p.annotations.DesiredTGUpdates[str(tg.Name)] = &api.DesiredUpdates{}
			}
		}
		return p
	}

	inJob := map[string]bool{}
	for _, tg := range job.TaskGroups {
		name := str(tg.Name)
		inJob[name] = true
		du := &api.DesiredUpdates{}
		p.annotations.DesiredTGUpdates[name] = du
		existing := byGroup[name]
		count := intv(tg.Count)
		if len(existing) > count {
			for _, e := range existing[count:] {
				stop(e, "alloc not needed due to job update")
			}
			du.Stop += uint64(len(existing) - count)
			existing = existing[:count]
		}
		var groupPlaces []placement
		var destructive []*allocEntry
		used := map[int]bool{}
		for _, e := range existing {
			used[e.index] = true
			switch {
			case !specChanged(e.alloc.Job, job):
				du.Ignore++
			case e.alloc.ClientStatus == allocComplete:
				// A finished batch allocation is not run again for an in-place change.
				if tasksUpdated(e.alloc.Job, job, name) {
					du.DestructiveUpdate++
					destructive = append(destructive, e)
					groupPlaces = append(groupPlaces, placement{group: tg, index: e.index, previous: e})
				} else {
					du.Ignore++
				}
			case tasksUpdated(e.alloc.Job, job, name):
				du.DestructiveUpdate++
				destructive = append(destructive, e)
				groupPlaces = append(groupPlaces, placement{group: tg, index: e.index, previous: e})
			default:
				du.InPlaceUpdate++
				p.inplace = append(p.inplace, e)
			}
		}
		for idx := 0; len(existing)+int(du.Place) < count; idx++ {
			if used[idx] {
				continue
			}
			used[idx] = true
			du.Place++
			groupPlaces = append(groupPlaces, placement{group: tg, index: idx})
		}
		if len(groupPlaces) == 0 {
			continue
		}
		if metric := s.feasibility(job, tg, attrs, len(groupPlaces), destructive); metric != nil {
			p.failed[name] = metric
			p.queued[name] = len(groupPlaces)
			continue // the replaced allocations keep running
		}
		for _, e := range destructive {
			stop(e, "alloc is being updated due to job update")
		}
		p.places = append(p.places, groupPlaces...)
	}
	for group, entries := range byGroup {
		if inJob[group] {
			continue
		}
		for _, e := range entries {
			stop(e, "alloc not needed due to job update")
		}
		p.annotations.DesiredTGUpdates[group] = &api.DesiredUpdates{Stop: uint64(len(entries))}
	}
	return p
}

// tasksUpdated is the scheduler's tasksUpdated: whether the group changed in a way that
// cannot be applied to a running allocation.
func tasksUpdated(oldJob, newJob *api.Job, group string) bool {
	a, b := lookupGroup(oldJob, group), lookupGroup(newJob, group)
	if a == nil || b == nil || len(a.Tasks) != len(b.Tasks) {
		return true
	}
	if !reflect.DeepEqual(a.Networks, b.Networks) || !reflect.DeepEqual(a.EphemeralDisk, b.EphemeralDisk) ||
		!reflect.DeepEqual(a.Volumes, b.Volumes) || !reflect.DeepEqual(a.Consul, b.Consul) {
		return true
	}
	for _, at := range a.Tasks {
		var bt *api.Task
		for _, t := range b.Tasks {
			if t.Name == at.Name {
				bt = t
			}
		}
		if bt == nil {
			return true
		}
		if !reflect.DeepEqual(combinedMeta(oldJob, a, at), combinedMeta(newJob, b, bt)) {
			return true
		}
		if at.Driver != bt.Driver || at.User != bt.User || at.KillSignal != bt.KillSignal || at.Kind != bt.Kind ||
			!reflect.DeepEqual(at.Lifecycle, bt.Lifecycle) || !reflect.DeepEqual(at.Config, bt.Config) ||
			!reflect.DeepEqual(at.Env, bt.Env) || !reflect.DeepEqual(at.Artifacts, bt.Artifacts) ||
			!reflect.DeepEqual(at.Vault, bt.Vault) || !reflect.DeepEqual(at.Templates, bt.Templates) ||
			!reflect.DeepEqual(at.Resources, bt.Resources) || !reflect.DeepEqual(at.VolumeMounts, bt.VolumeMounts) ||
			!reflect.DeepEqual(at.DispatchPayload, bt.DispatchPayload) || !reflect.DeepEqual(at.Identities, bt.Identities) ||
			boolv(logDisabled(at)) != boolv(logDisabled(bt)) {
			return true
		}
	}
	return false
}

func logDisabled(t *api.Task) *bool {
	if t.LogConfig == nil {
		return nil
	}
	return t.LogConfig.Disabled
}

// combinedMeta is job meta overlaid with group and task meta.
func combinedMeta(j *api.Job, tg *api.TaskGroup, t *api.Task) map[string]string {
	m := map[string]string{}
	for k, v := range j.Meta {
		m[k] = v
	}
	for k, v := range tg.Meta {
		m[k] = v
	}
	for k, v := range t.Meta {
		m[k] = v
	}
	return m
}

// feasibility runs the feasibility checks the scheduler runs for a group on the one
// node, and returns the failure metric, or nil when the group can be placed. Ports held
// by allocations that this plan replaces count as free, as Nomad's plan does.
func (s *Server) feasibility(job *api.Job, tg *api.TaskGroup, attrs map[string]string, n int, replaced []*allocEntry) *api.AllocationMetric {
	m := &api.AllocationMetric{
		NodesInPool:       1,
		NodePool:          "default",
		NodesAvailable:    map[string]int{},
		CoalescedFailures: n - 1,
		AllocationTime:    50 * time.Microsecond,
	}
	if s.nodeRec == nil {
		m.NodesInPool = 0 // no client, or not registered yet
		return m
	}
	if s.nodeRec.eligibility != api.NodeSchedulingEligible {
		return m // in the pool, but not among the ready nodes
	}
	inDC := false
	for _, dc := range job.Datacenters {
		if ok, _ := path.Match(dc, s.node.Datacenter); ok {
			inDC = true
		}
	}
	if !inDC {
		return m
	}
	m.NodesEvaluated = 1
	m.NodesAvailable[s.node.Datacenter] = 1
	filtered := func(reason string) *api.AllocationMetric {
		m.NodesFiltered = 1
		m.ConstraintFiltered = map[string]int{reason: 1}
		return m
	}
	for _, c := range job.Constraints {
		if !s.constraintMet(c, attrs) {
			return filtered(constraintString(c))
		}
	}
	for _, t := range tg.Tasks {
		if !s.node.drivers[t.Driver] {
			return filtered("missing drivers")
		}
	}
	var constraints []*api.Constraint
	constraints = append(constraints, tg.Constraints...)
	for _, t := range tg.Tasks {
		constraints = append(constraints, t.Constraints...)
	}
	for _, c := range constraints {
		if !s.constraintMet(c, attrs) {
			return filtered(constraintString(c))
		}
	}
	// Static ports: free unless another live allocation (not one being replaced) holds them.
	freed := map[string]bool{}
	for _, e := range replaced {
		freed[e.alloc.ID] = true
	}
	for _, net := range allNetworks(tg) {
		for _, p := range net.ReservedPorts {
			if owner := s.ports.owner(p.Value); owner != "" && !freed[owner] {
				m.NodesExhausted = 1
				m.DimensionExhausted = map[string]int{fmt.Sprintf("network: reserved port collision %s=%d", p.Label, p.Value): 1}
				return m
			}
		}
	}
	return nil
}

// allNetworks are the group network and the (deprecated) task-level networks.
func allNetworks(tg *api.TaskGroup) []*api.NetworkResource {
	nets := append([]*api.NetworkResource(nil), tg.Networks...)
	for _, t := range tg.Tasks {
		if t.Resources != nil {
			nets = append(nets, t.Resources.Networks...)
		}
	}
	return nets
}

// newEval records an evaluation; callers hold s.mu.
func (s *Server) newEval(job *api.Job, triggeredBy string) *api.Evaluation {
	t := now()
	idx := s.write(tableEvals)
	e := &api.Evaluation{
		ID:             uuid(),
		Priority:       intv(job.Priority),
		Type:           str(job.Type),
		TriggeredBy:    triggeredBy,
		Namespace:      str(job.Namespace),
		JobID:          str(job.ID),
		JobModifyIndex: u64(job.JobModifyIndex),
		Status:         evalPending,
		CreateIndex:    idx,
		ModifyIndex:    idx,
		CreateTime:     t,
		ModifyTime:     t,
	}
	s.evals[e.ID] = e
	return e
}

// blockedEval is the evaluation the scheduler creates (CreateBlockedEval) to place,
// once the cluster changes, the groups that parent could not place.
func blockedEval(job *api.Job, parent *api.Evaluation, idx uint64) *api.Evaluation {
	t := now()
	return &api.Evaluation{
		ID:                uuid(),
		Priority:          parent.Priority,
		Type:              str(job.Type),
		TriggeredBy:       "queued-allocs",
		Namespace:         str(job.Namespace),
		JobID:             str(job.ID),
		JobModifyIndex:    u64(job.JobModifyIndex),
		Status:            evalBlocked,
		StatusDescription: "created to place remaining allocations",
		PreviousEval:      parent.ID,
		ClassEligibility:  map[string]bool{},
		CreateIndex:       idx,
		ModifyIndex:       idx,
		CreateTime:        t,
		ModifyTime:        t,
	}
}

// runEval applies a scheduler pass for job and completes eval; callers hold s.mu.
// specChange tells whether this registration made a new job version (deployments are
// only made for those).
func (s *Server) runEval(eval *api.Evaluation, job *api.Job, attrs map[string]string, specChange bool) {
	if s.brokerPaused() {
		// Nomad's paused broker hands out no evaluations: this one stays pending
		// until the operator resumes it (operator.go).
		s.deferred = append(s.deferred, deferredEval{eval: eval, specChange: specChange})
		return
	}
	p := s.reconcile(job, attrs)
	jobType := str(job.Type)

	// Cancel what this evaluation supersedes.
	for _, e := range s.evals {
		if e.JobID == eval.JobID && e.Namespace == eval.Namespace && e.Status == evalBlocked {
			e.Status, e.StatusDescription = evalCanceled, fmt.Sprintf("evaluation %q successful", eval.ID)
			e.ModifyIndex, e.ModifyTime = s.index, now()
		}
	}
	var deployment *api.Deployment
	switch {
	case boolv(job.Stop):
		s.cancelDeployments(job, "Cancelled because job is stopped", false)
	case jobType == api.JobTypeService:
		// A deployment follows one job version: older ones are cancelled, the current
		// one (if any) takes the new placements, and a version gets one deployment.
		s.cancelDeployments(job, "Cancelled due to newer version of job", true)
		current := s.versionDeployment(job)
		switch {
		case current == nil && (specChange || len(p.places) > 0 || len(p.inplace) > 0):
			deployment = s.newDeployment(job, p)
		case current != nil && current.Status == deployRunning:
			deployment = current
			for _, pl := range p.places {
				if st := current.TaskGroups[str(pl.group.Name)]; st != nil {
					st.PlacedAllocs++
				}
			}
		}
	}

	for _, e := range p.stops {
		s.stopAlloc(e, p.stopReason[e])
	}
	for _, e := range p.inplace {
		s.updateInPlace(e, eval.ID, job, deployment)
	}
	for _, pl := range p.places {
		s.placeAlloc(eval, job, pl, deployment)
	}

	idx := s.write(tableEvals)
	eval.Status = evalComplete
	eval.ModifyIndex, eval.ModifyTime = idx, now()
	eval.SnapshotIndex = idx
	eval.QueuedAllocations = map[string]int{}
	for _, tg := range job.TaskGroups {
		eval.QueuedAllocations[str(tg.Name)] = p.queued[str(tg.Name)]
	}
	if deployment != nil {
		eval.DeploymentID = deployment.ID
	}
	if len(p.failed) > 0 {
		eval.FailedTGAllocs = p.failed
		blocked := blockedEval(job, eval, s.write(tableEvals))
		s.evals[blocked.ID] = blocked
		eval.BlockedEval = blocked.ID
	}
	if deployment != nil {
		s.checkDeployment(deployment)
	}
	s.refreshJobStatus(nsID{str(job.Namespace), str(job.ID)})
}

func (s *Server) newDeployment(job *api.Job, p *schedPlan) *api.Deployment {
	t := now()
	d := &api.Deployment{
		ID:                 uuid(),
		Namespace:          str(job.Namespace),
		JobID:              str(job.ID),
		JobVersion:         u64(job.Version),
		JobModifyIndex:     u64(job.ModifyIndex),
		JobSpecModifyIndex: u64(job.JobModifyIndex),
		JobCreateIndex:     u64(job.CreateIndex),
		TaskGroups:         map[string]*api.DeploymentState{},
		Status:             deployRunning,
		StatusDescription:  "Deployment is running",
		CreateTime:         t,
		ModifyTime:         t,
	}
	placed := map[string]int{}
	for _, pl := range p.places {
		placed[str(pl.group.Name)]++
	}
	for _, e := range p.inplace {
		placed[e.alloc.TaskGroup]++
	}
	for _, tg := range job.TaskGroups {
		u := tg.Update
		if u == nil || u.Empty() || intv(tg.Count) == 0 {
			continue
		}
		pd := dur(u.ProgressDeadline)
		state := &api.DeploymentState{
			AutoRevert:       boolv(u.AutoRevert),
			ProgressDeadline: pd,
			DesiredTotal:     intv(tg.Count),
			DesiredCanaries:  intv(u.Canary),
			PlacedAllocs:     placed[str(tg.Name)],
		}
		if pd > 0 {
			state.RequireProgressBy = time.Now().Add(pd)
		}
		d.TaskGroups[str(tg.Name)] = state
	}
	if len(d.TaskGroups) == 0 {
		return nil
	}
	idx := s.write(tableDeployments)
	d.CreateIndex, d.ModifyIndex = idx, idx
	s.deployments[d.ID] = d
	s.wg.Add(1)
	go s.watchProgress(d.ID)
	return d
}

// cancelDeployments cancels the job's running deployments (only those of other job
// versions when olderOnly).
func (s *Server) cancelDeployments(job *api.Job, why string, olderOnly bool) {
	for _, d := range s.deployments {
		if d.JobID != str(job.ID) || d.Namespace != str(job.Namespace) || (d.Status != deployRunning && d.Status != deployPaused) {
			continue
		}
		if olderOnly && d.JobVersion == u64(job.Version) && d.JobCreateIndex == u64(job.CreateIndex) {
			continue
		}
		s.setDeploymentStatus(d, deployCancelled, why)
	}
}

// versionDeployment is the latest deployment of the job's current version, or nil.
func (s *Server) versionDeployment(job *api.Job) *api.Deployment {
	var latest *api.Deployment
	for _, d := range s.deployments {
		if d.JobID == str(job.ID) && d.Namespace == str(job.Namespace) &&
			d.JobVersion == u64(job.Version) && d.JobCreateIndex == u64(job.CreateIndex) &&
			(latest == nil || d.CreateIndex > latest.CreateIndex) {
			latest = d
		}
	}
	return latest
}

func (s *Server) setDeploymentStatus(d *api.Deployment, status, desc string) {
	d.Status, d.StatusDescription = status, desc
	d.ModifyIndex, d.ModifyTime = s.write(tableDeployments), now()
	if status == deploySuccessful {
		s.markStable(d)
	}
}

// markStable sets Stable on the job version a successful deployment deployed.
func (s *Server) markStable(d *api.Deployment) {
	e := s.jobs[nsID{d.Namespace, d.JobID}]
	if e == nil {
		return
	}
	s.tables[tableJobs], s.tables[tableJobVersion] = s.index, s.index
	for _, v := range e.versions {
		if u64(v.Version) == d.JobVersion && u64(v.JobModifyIndex) == d.JobSpecModifyIndex {
			v.Stable = new(true)
			v.ModifyIndex = new(s.index)
		}
	}
	if u64(e.job.Version) == d.JobVersion && u64(e.job.JobModifyIndex) == d.JobSpecModifyIndex {
		e.job.Stable = new(true)
		e.job.ModifyIndex = new(s.index)
	}
}

// checkDeployment moves a running deployment to successful or failed from the health
// of its allocations; callers hold s.mu.
func (s *Server) checkDeployment(d *api.Deployment) {
	if d == nil || d.Status != deployRunning {
		return
	}
	healthy, unhealthy := map[string]int{}, map[string]int{}
	for _, e := range s.allocs {
		a := e.alloc
		if a.DeploymentID != d.ID || a.DeploymentStatus == nil || a.DeploymentStatus.Healthy == nil {
			continue
		}
		if *a.DeploymentStatus.Healthy {
			healthy[a.TaskGroup]++
		} else {
			unhealthy[a.TaskGroup]++
		}
	}
	changed := false
	done := true
	for group, st := range d.TaskGroups {
		if st.HealthyAllocs != healthy[group] || st.UnhealthyAllocs != unhealthy[group] {
			if healthy[group] > st.HealthyAllocs && st.ProgressDeadline > 0 {
				st.RequireProgressBy = time.Now().Add(st.ProgressDeadline)
			}
			st.HealthyAllocs, st.UnhealthyAllocs = healthy[group], unhealthy[group]
			changed = true
		}
		if st.HealthyAllocs < st.DesiredTotal {
			done = false
		}
	}
	switch {
	case sumValues(unhealthy) > 0:
		s.setDeploymentStatus(d, deployFailed, "Failed due to unhealthy allocations")
	case done:
		s.setDeploymentStatus(d, deploySuccessful, "Deployment completed successfully")
	case changed:
		d.ModifyIndex, d.ModifyTime = s.write(tableDeployments), now()
	}
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// watchProgress fails a deployment that makes no progress before its deadline.
func (s *Server) watchProgress(id string) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		d := s.deployments[id]
		if d == nil || d.Status != deployRunning {
			s.mu.Unlock()
			return
		}
		var deadline time.Time
		for _, st := range d.TaskGroups {
			if !st.RequireProgressBy.IsZero() && (deadline.IsZero() || st.RequireProgressBy.Before(deadline)) && st.HealthyAllocs < st.DesiredTotal {
				deadline = st.RequireProgressBy
			}
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			s.setDeploymentStatus(d, deployFailed, "Failed due to progress deadline")
			s.mu.Unlock()
			return
		}
		ch := s.changed
		s.mu.Unlock()
		wait := time.Second
		if !deadline.IsZero() {
			wait = min(max(time.Until(deadline), time.Millisecond), time.Minute)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-ch:
		case <-time.After(wait):
		}
	}
}

// refreshJobStatus recomputes the job's status (getJobStatus); callers hold s.mu.
func (s *Server) refreshJobStatus(key nsID) {
	e := s.jobs[key]
	if e == nil {
		return
	}
	status := s.jobStatus(e.job)
	if str(e.job.Status) != status {
		idx := s.write(tableJobs)
		e.job.Status = &status
		e.job.ModifyIndex = &idx
		if len(e.versions) > 0 {
			e.versions[0].Status = &status
		}
	}
}

func (s *Server) jobStatus(j *api.Job) string {
	if str(j.Type) == api.JobTypeSystem || j.ParameterizedJob != nil || j.Periodic != nil {
		if boolv(j.Stop) {
			return "dead"
		}
		return "running"
	}
	hasAlloc, hasEval := false, false
	for _, e := range s.allocs {
		a := e.alloc
		if a.JobID != str(j.ID) || a.Namespace != str(j.Namespace) {
			continue
		}
		hasAlloc = true
		if a.DesiredStatus == allocDesiredRun && (a.ClientStatus == allocPending || a.ClientStatus == allocRunning) {
			return "running"
		}
	}
	for _, ev := range s.evals {
		if ev.JobID != str(j.ID) || ev.Namespace != str(j.Namespace) {
			continue
		}
		hasEval = true
		if ev.Status == evalPending || ev.Status == evalBlocked {
			return "pending"
		}
	}
	if hasAlloc || hasEval {
		return "dead"
	}
	return "pending"
}
