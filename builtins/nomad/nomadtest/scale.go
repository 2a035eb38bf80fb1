package nomadtest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Scaling (/v1/job/:id/scale) as Nomad 1.6's Job.Scale and Job.ScaleStatus: a count
// change registers a new job version and evaluates it; every request, with a count or
// not, records a scaling event for the group (the newest 20 are kept).

// maxScalingEvents is structs.JobTrackedScalingEvents.
const maxScalingEvents = 20

// tableScalingEvent is the state store table of scaling events.
const tableScalingEvent = "scaling_event"

func (s *Server) jobScale(r *http.Request, id string) (any, error) {
	switch r.Method {
	case http.MethodGet:
		return s.jobScaleStatus(r, id)
	case http.MethodPut, http.MethodPost:
		return s.jobScaleAction(r, id)
	}
	return nil, errInvalidMethod
}

func (s *Server) jobScaleStatus(r *http.Request, id string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookupJob(r, id)
	if e == nil {
		return nil, coded(http.StatusNotFound, "job not found")
	}
	j := e.job
	setIndex(r, u64(j.ModifyIndex))
	out := &api.JobScaleStatusResponse{
		JobID: str(j.ID), Namespace: str(j.Namespace), JobCreateIndex: u64(j.CreateIndex),
		JobModifyIndex: u64(j.ModifyIndex), JobStopped: boolv(j.Stop), TaskGroups: map[string]api.TaskGroupScaleStatus{},
	}
	d := s.versionDeployment(j)
	for _, tg := range j.TaskGroups {
		name := str(tg.Name)
		st := api.TaskGroupScaleStatus{Desired: intv(tg.Count), Events: []api.ScalingEvent{}}
		if d != nil {
			if ds := d.TaskGroups[name]; ds != nil {
				st.Placed, st.Healthy, st.Unhealthy = ds.PlacedAllocs, ds.HealthyAllocs, ds.UnhealthyAllocs
			}
		}
		for _, a := range s.liveAllocs(str(j.Namespace), str(j.ID), str(j.Type)) {
			if a.alloc.TaskGroup == name && a.alloc.ClientStatus == allocRunning {
				st.Running++
			}
		}
		for _, ev := range e.scalingEvents[name] {
			st.Events = append(st.Events, *ev)
		}
		out.TaskGroups[name] = st
	}
	return out, nil
}

func (s *Server) jobScaleAction(r *http.Request, id string) (any, error) {
	var args api.ScalingRequest
	if err := decodeStrict(r, &args); err != nil {
		return nil, err
	}
	if target := args.Target["Job"]; target != "" && target != id {
		return nil, coded(http.StatusBadRequest, "job ID in payload did not match URL")
	}
	ns := requestNamespace(r)
	if target := args.Target["Namespace"]; target != "" && target != ns {
		return nil, coded(http.StatusBadRequest, "namespace in payload did not match header")
	}
	group := args.Target["Group"]
	if group == "" {
		return nil, coded(http.StatusBadRequest, "missing task group name for scaling action")
	}
	if c := args.Count; c != nil {
		if *c < 0 {
			return nil, coded(http.StatusBadRequest, "scaling action count can't be negative")
		}
		if args.Error {
			return nil, coded(http.StatusBadRequest, "scaling action should not contain count if error is true")
		}
		if int64(int(*c)) != *c {
			return nil, coded(http.StatusBadRequest, "new scaling count is too large for TaskGroup.Count (int): %v", *c)
		}
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	key := nsID{ns, id}
	e := s.jobs[key]
	if e == nil {
		return nil, coded(http.StatusNotFound, "job %q not found", id)
	}
	if str(e.job.Type) == api.JobTypeSystem {
		return nil, coded(http.StatusBadRequest, "cannot scale jobs of type system")
	}
	if args.JobModifyIndex != 0 && args.JobModifyIndex != u64(e.job.JobModifyIndex) {
		return nil, rpcError(fmt.Errorf("%s %d: job exists with conflicting job modify index: %d",
			api.RegisterEnforceIndexErrPrefix, args.JobModifyIndex, u64(e.job.JobModifyIndex)))
	}
	tg := lookupGroup(e.job, group)
	if tg == nil {
		return nil, coded(http.StatusBadRequest, "task group %q specified for scaling does not exist in job", group)
	}
	event := &api.ScalingEvent{
		PreviousCount: int64(intv(tg.Count)), Message: args.Message, Error: args.Error, Meta: args.Meta,
		Time: uint64(time.Now().UnixNano()),
	}
	resp := &registerResponse{JobModifyIndex: u64(e.job.JobModifyIndex)}
	job := e.job
	if c := args.Count; c != nil {
		if p := tg.Scaling; p != nil {
			if p.Min != nil && *c < *p.Min {
				return nil, coded(http.StatusBadRequest, "group count was less than scaling policy minimum: %d < %d", *c, *p.Min)
			}
			if p.Max != nil && *p.Max < *c {
				return nil, coded(http.StatusBadRequest, "group count was greater than scaling policy maximum: %d > %d", *c, *p.Max)
			}
		}
		event.Count = new(*c)
		job = copyJob(e.job)
		lookupGroup(job, group).Count = new(int(*c))
		job.Stop = new(false)
		s.storeVersion(key, job)
		resp.JobModifyIndex = u64(job.JobModifyIndex)
		if job.Periodic == nil && job.ParameterizedJob == nil {
			eval := s.newEval(job, "job-scaling")
			s.runEval(eval, job, attrs, true)
			resp.EvalID, resp.EvalCreateIndex = eval.ID, eval.CreateIndex
			event.EvalID = new(eval.ID)
		}
	}
	idx := s.write(tableScalingEvent)
	event.CreateIndex = idx
	if e.scalingEvents == nil {
		e.scalingEvents = map[string][]*api.ScalingEvent{}
	}
	events := append([]*api.ScalingEvent{event}, e.scalingEvents[group]...)
	if len(events) > maxScalingEvents {
		events = events[:maxScalingEvents]
	}
	e.scalingEvents[group] = events
	resp.Index = idx
	resp.KnownLeader = true
	return resp, nil
}
