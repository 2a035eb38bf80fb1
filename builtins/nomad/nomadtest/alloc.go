package nomadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// placeAlloc creates an allocation for a placement and starts its runner; callers hold
// s.mu.
func (s *Server) placeAlloc(eval *api.Evaluation, job *api.Job, pl placement, d *api.Deployment) {
	id := uuid()
	jobCopy := copyJob(job)
	name := str(pl.group.Name)
	tg := lookupGroup(jobCopy, name)

	shared, sharedNets, err := s.allocatePorts(id, tg.Networks)
	taskNets := map[string][]*api.NetworkResource{}
	for _, t := range tg.Tasks {
		if err != nil || t.Resources == nil || len(t.Resources.Networks) == 0 {
			continue
		}
		var nets []*api.NetworkResource
		_, nets, err = s.allocatePorts(id, t.Resources.Networks)
		taskNets[t.Name] = nets
	}
	if err != nil {
		s.ports.release(id)
		s.logf("placing %s.%s: %v", str(job.ID), name, err)
		return
	}

	t := now()
	idx := s.write(tableAllocs, tableJobSummary)
	alloc := &api.Allocation{
		ID:        id,
		Namespace: str(job.Namespace),
		EvalID:    eval.ID,
		Name:      fmt.Sprintf("%s.%s[%d]", str(job.ID), name, pl.index),
		NodeID:    s.node.ID,
		NodeName:  s.node.Name,
		JobID:     str(job.ID),
		Job:       jobCopy,
		TaskGroup: name,
		Metrics: &api.AllocationMetric{
			NodesEvaluated: 1,
			NodesInPool:    1,
			NodePool:       "default",
			NodesAvailable: map[string]int{s.node.Datacenter: 1},
			AllocationTime: 50 * time.Microsecond,
			ScoreMetaData:  []*api.NodeScoreMeta{{NodeID: s.node.ID, Scores: map[string]float64{"binpack": 0.5}, NormScore: 0.5}},
		},
		DesiredStatus:    allocDesiredRun,
		ClientStatus:     allocPending,
		CreateIndex:      idx,
		ModifyIndex:      idx,
		AllocModifyIndex: idx,
		CreateTime:       t,
		ModifyTime:       t,
	}
	alloc.Resources, alloc.TaskResources, alloc.AllocatedResources = allocResources(tg, shared, sharedNets, taskNets)
	if d != nil {
		if _, tracked := d.TaskGroups[name]; tracked {
			alloc.DeploymentID = d.ID
		}
	}
	var prev *allocRunner
	if pl.previous != nil {
		alloc.PreviousAllocation = pl.previous.alloc.ID
		pl.previous.alloc.NextAllocation = id
		pl.previous.alloc.ModifyIndex = idx
		prev = pl.previous.runner
	}
	e := &allocEntry{alloc: alloc, index: pl.index}
	// The runner works on its own copy: the live allocation changes under s.mu.
	e.runner = newAllocRunner(s, copyAlloc(alloc), prev, taskNets)
	s.allocs[id] = e
	s.wg.Add(1)
	go e.runner.run()
}

// allocatePorts gives each port of the networks a host port on 127.0.0.1.
func (s *Server) allocatePorts(owner string, nets []*api.NetworkResource) ([]api.PortMapping, []*api.NetworkResource, error) {
	var mappings []api.PortMapping
	var out []*api.NetworkResource
	for _, n := range nets {
		nc := clone(n)
		nc.IP = "127.0.0.1"
		if nc.Mode == "" {
			nc.Mode = "host"
		}
		for i, p := range nc.ReservedPorts {
			if err := s.ports.reserve(p.Value, owner); err != nil {
				return nil, nil, err
			}
			mappings = append(mappings, api.PortMapping{Label: p.Label, Value: p.Value, To: p.To, HostIP: nc.IP})
			nc.ReservedPorts[i] = p
		}
		for i, p := range nc.DynamicPorts {
			port, err := s.ports.dynamic(owner)
			if err != nil {
				return nil, nil, err
			}
			p.Value = port
			if p.To == -1 {
				p.To = port
			}
			nc.DynamicPorts[i] = p
			mappings = append(mappings, api.PortMapping{Label: p.Label, Value: port, To: p.To, HostIP: nc.IP})
		}
		out = append(out, nc)
	}
	return mappings, out, nil
}

func allocResources(tg *api.TaskGroup, shared []api.PortMapping, sharedNets []*api.NetworkResource, taskNets map[string][]*api.NetworkResource) (*api.Resources, map[string]*api.Resources, *api.AllocatedResources) {
	disk := 0
	if tg.EphemeralDisk != nil {
		disk = intv(tg.EphemeralDisk.SizeMB)
	}
	total := &api.Resources{CPU: new(0), MemoryMB: new(0), DiskMB: new(disk), Networks: sharedNets}
	perTask := map[string]*api.Resources{}
	allocated := &api.AllocatedResources{
		Tasks:  map[string]*api.AllocatedTaskResources{},
		Shared: api.AllocatedSharedResources{DiskMB: int64(disk), Networks: sharedNets, Ports: shared},
	}
	for _, t := range tg.Tasks {
		cpu, mem := 0, 0
		if t.Resources != nil {
			cpu, mem = intv(t.Resources.CPU), intv(t.Resources.MemoryMB)
		}
		*total.CPU += cpu
		*total.MemoryMB += mem
		total.Networks = append(total.Networks, taskNets[t.Name]...)
		perTask[t.Name] = &api.Resources{CPU: new(cpu), MemoryMB: new(mem), Networks: taskNets[t.Name]}
		allocated.Tasks[t.Name] = &api.AllocatedTaskResources{
			Cpu:      api.AllocatedCpuResources{CpuShares: int64(cpu)},
			Memory:   api.AllocatedMemoryResources{MemoryMB: int64(mem)},
			Networks: taskNets[t.Name],
		}
	}
	return total, perTask, allocated
}

// stopAlloc marks an allocation to stop and tells its runner; callers hold s.mu.
func (s *Server) stopAlloc(e *allocEntry, reason string) {
	idx := s.write(tableAllocs)
	e.alloc.DesiredStatus = allocDesiredStop
	e.alloc.DesiredDescription = reason
	e.alloc.ModifyIndex, e.alloc.AllocModifyIndex, e.alloc.ModifyTime = idx, idx, now()
	// Its ports are free for the plan that replaces it; the replacement's runner waits
	// for this one to finish before starting anything.
	s.ports.release(e.alloc.ID)
	if e.runner != nil {
		go e.runner.stop(reason, 0)
	}
}

// updateInPlace moves a running allocation to a new job version; callers hold s.mu.
func (s *Server) updateInPlace(e *allocEntry, evalID string, job *api.Job, d *api.Deployment) {
	idx := s.write(tableAllocs)
	e.alloc.Job = copyJob(job)
	e.alloc.EvalID = evalID
	e.alloc.ModifyIndex, e.alloc.AllocModifyIndex, e.alloc.ModifyTime = idx, idx, now()
	e.alloc.DeploymentID = ""
	e.alloc.DeploymentStatus = nil
	if d != nil {
		if _, tracked := d.TaskGroups[e.alloc.TaskGroup]; tracked {
			e.alloc.DeploymentID = d.ID
		}
	}
	if r := e.runner; r != nil {
		r.healthMu.Lock()
		r.healthSince = time.Now()
		r.healthMu.Unlock()
		r.kickHealth()
		go r.updateServices(copyAlloc(e.alloc))
	}
}

// updateAlloc mutates an allocation under the lock and recomputes what depends on it.
func (s *Server) updateAlloc(id string, fn func(a *api.Allocation)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.allocs[id]
	if e == nil {
		return
	}
	fn(e.alloc)
	idx := s.write(tableAllocs, tableJobSummary)
	e.alloc.ModifyIndex, e.alloc.ModifyTime = idx, now()
	e.alloc.ClientStatus, e.alloc.ClientDescription = clientStatus(e.alloc)
	if d := s.deployments[e.alloc.DeploymentID]; d != nil {
		s.checkDeployment(d)
	}
	s.refreshJobStatus(nsID{e.alloc.Namespace, e.alloc.JobID})
}

// clientStatus is the client's getClientStatus over the task states (Nomad 1.6's
// allocrunner): one failed task fails the allocation at once, even while siblings
// still run or wait (the runner then kills them); otherwise any running task makes it
// running, any pending one pending, and only dead ones complete. Before any task state
// the allocation stays pending.
func clientStatus(a *api.Allocation) (string, string) {
	var pending, running, failed, dead bool
	for _, ts := range a.TaskStates {
		switch ts.State {
		case "pending":
			pending = true
		case "running":
			running = true
		case "dead":
			if ts.Failed {
				failed = true
			} else {
				dead = true
			}
		}
	}
	switch {
	case failed:
		return allocFailed, "Failed tasks"
	case running:
		return allocRunning, "Tasks are running"
	case pending:
		return allocPending, "No tasks have started"
	case dead:
		return allocComplete, "All tasks have completed"
	}
	return allocPending, "No tasks have started"
}

// allocRunner is the simulated client's runner for one allocation.
type allocRunner struct {
	s        *Server
	id       string
	prev     *allocRunner
	allocDir string
	tasks    map[string]*taskRunner
	order    []string

	stopOnce   sync.Once
	stopCh     chan struct{}
	stopReason string
	grace      time.Duration // 0: each task's kill timeout
	tasksDone  chan struct{}
	done       chan struct{}

	svcMu          sync.Mutex
	groupServices  []string // Consul IDs of the group services
	servicesClosed bool     // deregistered for good: no in-place re-registration

	healthMu    sync.Mutex
	healthSince time.Time // placement or last in-place update, for the healthy deadline
	healthCh    chan struct{}
}

func newAllocRunner(s *Server, a *api.Allocation, prev *allocRunner, taskNets map[string][]*api.NetworkResource) *allocRunner {
	r := &allocRunner{
		s:           s,
		id:          a.ID,
		prev:        prev,
		allocDir:    filepath.Join(s.cfg.DataDir, a.ID),
		tasks:       map[string]*taskRunner{},
		stopCh:      make(chan struct{}),
		tasksDone:   make(chan struct{}),
		done:        make(chan struct{}),
		healthSince: time.Now(),
		healthCh:    make(chan struct{}, 1),
	}
	tg := lookupGroup(a.Job, a.TaskGroup)
	for _, t := range tg.Tasks {
		r.tasks[t.Name] = newTaskRunner(r, a, t, taskNets[t.Name])
		r.order = append(r.order, t.Name)
	}
	return r
}

// stop asks the runner to kill its tasks; grace overrides the kill timeout when > 0.
func (r *allocRunner) stop(reason string, grace time.Duration) {
	r.stopOnce.Do(func() {
		r.stopReason, r.grace = reason, grace
		close(r.stopCh)
	})
}

func (r *allocRunner) stopping() bool {
	select {
	case <-r.stopCh:
		return true
	default:
		return false
	}
}

func (r *allocRunner) kickHealth() {
	select {
	case r.healthCh <- struct{}{}:
	default:
	}
}

func (r *allocRunner) run() {
	defer r.s.wg.Done()
	defer close(r.done)
	if r.prev != nil {
		select {
		case <-r.prev.done:
		case <-r.stopCh:
		}
	}
	s := r.s
	snapshot := r.snapshot()
	if snapshot == nil {
		close(r.tasksDone)
		return
	}
	if r.stopping() {
		r.finishUnstarted()
		close(r.tasksDone)
		return
	}
	if s.cfg.InMemory {
		// no alloc directory in memory
	} else if err := buildAllocDir(r.allocDir); err != nil {
		s.logf("alloc %s: %v", r.id, err)
	}
	r.receiveTasks()
	r.svcMu.Lock()
	r.groupServices = s.registerGroupServices(snapshot)
	r.svcMu.Unlock()

	// Lifecycle: prestart tasks first (sidecars started, the others finished), then the
	// main tasks, poststart once they run, poststop once they are done.
	var prestart, main, poststart, poststop []*taskRunner
	for _, name := range r.order {
		tr := r.tasks[name]
		switch lc := tr.task.Lifecycle; {
		case lc == nil:
			main = append(main, tr)
		case lc.Hook == api.TaskLifecycleHookPrestart:
			prestart = append(prestart, tr)
		case lc.Hook == api.TaskLifecycleHookPoststart:
			poststart = append(poststart, tr)
		default:
			poststop = append(poststop, tr)
		}
	}
	open := make(chan struct{})
	close(open)
	mainGate, postStartGate, postStopGate := make(chan struct{}), make(chan struct{}), make(chan struct{})
	for _, tr := range prestart {
		tr.gate = open
	}
	for _, tr := range main {
		tr.gate = mainGate
	}
	for _, tr := range poststart {
		tr.gate = postStartGate
	}
	for _, tr := range poststop {
		tr.gate = postStopGate
	}
	var wg sync.WaitGroup
	for _, name := range r.order {
		tr := r.tasks[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.run()
		}()
	}
	go func() {
		for _, tr := range prestart {
			if tr.task.Lifecycle.Sidecar {
				<-tr.started
			} else {
				<-tr.done
			}
		}
		close(mainGate)
		for _, tr := range main {
			<-tr.started
		}
		close(postStartGate)
	}()
	go func() {
		for _, tr := range main {
			<-tr.done
		}
		for _, tr := range append(append([]*taskRunner(nil), prestart...), poststart...) {
			if tr.task.Lifecycle.Sidecar {
				tr.kill(nil)
			}
		}
		close(postStopGate)
	}()
	go func() {
		select {
		case <-r.stopCh:
		case <-r.tasksDone:
			return
		}
		// Nomad deregisters services before it signals the tasks.
		r.deregisterGroup()
		for _, tr := range r.tasks {
			tr.kill(nil)
		}
	}()
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		r.watchHealth()
	}()
	wg.Wait()
	close(r.tasksDone)
	r.deregisterGroup()
	<-healthDone
	s.ports.release(r.id)
}

// deregisterGroup takes the group services out of Consul for good.
func (r *allocRunner) deregisterGroup() {
	r.svcMu.Lock()
	ids := r.groupServices
	r.groupServices, r.servicesClosed = nil, true
	r.svcMu.Unlock()
	r.s.deregisterServices(ids)
}

// updateServices re-registers the services of a running allocation after an in-place
// update, as Nomad's client does when only services (tags, checks...) changed.
func (r *allocRunner) updateServices(a *api.Allocation) {
	r.svcMu.Lock()
	defer r.svcMu.Unlock()
	if r.servicesClosed || r.stopping() {
		return
	}
	r.s.deregisterServices(r.groupServices)
	r.groupServices = r.s.registerGroupServices(a)
	for _, t := range lookupGroup(a.Job, a.TaskGroup).Tasks {
		tr := r.tasks[t.Name]
		if tr == nil {
			continue
		}
		tr.mu.Lock()
		registered := tr.registered
		tr.mu.Unlock()
		select {
		case <-tr.done:
			continue
		default:
		}
		if !registered {
			continue
		}
		tr.deregisterServices()
		ids := r.s.registerServices(a, t.Name, t.Services, tr.nets, tr.buildEnv(""))
		tr.mu.Lock()
		tr.services = ids
		tr.mu.Unlock()
	}
}

// receiveTasks gives every task its first state, pending with a Received event.
func (r *allocRunner) receiveTasks() {
	r.s.updateAlloc(r.id, func(a *api.Allocation) {
		if a.TaskStates == nil {
			a.TaskStates = map[string]*api.TaskState{}
		}
		for _, name := range r.order {
			a.TaskStates[name] = &api.TaskState{State: "pending", Events: []*api.TaskEvent{newEvent(api.TaskReceived, "Task received by client")}}
		}
	})
}

// taskFailed kills the other tasks of the allocation, as a failed task's siblings are.
func (r *allocRunner) taskFailed(name string) {
	for other, tr := range r.tasks {
		if other == name {
			continue
		}
		ev := newEvent(api.TaskSiblingFailed, fmt.Sprintf("Task's sibling %q failed", name))
		ev.FailedSibling = name
		ev.Details["failed_sibling"] = name
		tr.kill(ev)
	}
}

// snapshot is a copy of the runner's allocation, or nil if it is gone.
func (r *allocRunner) snapshot() *api.Allocation {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if e := r.s.allocs[r.id]; e != nil {
		return copyAlloc(e.alloc)
	}
	return nil
}

// finishUnstarted marks the tasks of an allocation stopped before it started.
func (r *allocRunner) finishUnstarted() {
	r.s.updateAlloc(r.id, func(a *api.Allocation) {
		if a.TaskStates == nil {
			a.TaskStates = map[string]*api.TaskState{}
		}
		for _, name := range r.order {
			ts := &api.TaskState{State: "dead", FinishedAt: time.Now()}
			ts.Events = append(ts.Events, newEvent(api.TaskReceived, "Task received by client"), newEvent(api.TaskKilled, "Task successfully killed"))
			a.TaskStates[name] = ts
		}
	})
}

// watchHealth sets the allocation's deployment health, as the client's health watcher
// does: healthy once every task runs (and, with health_check "checks", every Consul
// check passes) for min_healthy_time; unhealthy if a task fails or the healthy deadline
// passes first.
func (r *allocRunner) watchHealth() {
	s := r.s
	var healthySince time.Time
	for {
		s.mu.Lock()
		e := s.allocs[r.id]
		if e == nil {
			s.mu.Unlock()
			return
		}
		a := e.alloc
		ch := s.changed
		var u *api.UpdateStrategy
		if tg := lookupGroup(a.Job, a.TaskGroup); tg != nil {
			u = tg.Update
		}
		needs := a.DesiredStatus == allocDesiredRun && a.DeploymentID != "" && a.DeploymentStatus == nil &&
			u != nil && str(u.HealthCheck) != "manual"
		anyFailed, allUp := false, true
		for name, tr := range r.tasks {
			ts := a.TaskStates[name]
			if ts == nil {
				allUp = false
				continue
			}
			if ts.Failed {
				anyFailed = true
			}
			lc := tr.task.Lifecycle
			tr.mu.Lock()
			registered := tr.registered
			tr.mu.Unlock()
			switch {
			case ts.State == "running" && registered:
			case lc != nil && lc.Hook == api.TaskLifecycleHookPoststop:
			case lc != nil && !lc.Sidecar && ts.State == "dead" && !ts.Failed:
			default:
				allUp = false
			}
		}
		s.mu.Unlock()

		if needs {
			r.healthMu.Lock()
			since := r.healthSince
			r.healthMu.Unlock()
			switch {
			case anyFailed:
				r.setHealth(false)
				continue
			case time.Since(since) > dur(u.HealthyDeadline):
				r.setHealth(false)
				continue
			case allUp && (str(u.HealthCheck) != "checks" || s.checksPassing(r.id)):
				if healthySince.IsZero() {
					healthySince = time.Now()
				}
				// In memory, healthy as soon as it runs: there is nothing to watch.
				if s.cfg.InMemory || time.Since(healthySince) >= dur(u.MinHealthyTime) {
					r.setHealth(true)
					healthySince = time.Time{}
					continue
				}
			default:
				healthySince = time.Time{}
			}
		} else {
			healthySince = time.Time{}
		}

		// In memory nothing depends on time passing (health is immediate): wake only on
		// a change, so an idle fake costs no CPU.
		var tick <-chan time.Time
		if !s.cfg.InMemory {
			tick = time.After(100 * time.Millisecond)
		}
		select {
		case <-r.tasksDone:
			return
		case <-ch:
		case <-r.healthCh:
		case <-tick:
		}
	}
}

func (r *allocRunner) setHealth(healthy bool) {
	r.s.updateAlloc(r.id, func(a *api.Allocation) {
		a.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: new(healthy), Timestamp: time.Now(), ModifyIndex: r.s.index + 1}
	})
}

// buildAllocDir makes the shared alloc/ directory (alloc/logs, alloc/data, alloc/tmp);
// tasks of any user share it, so it is world-writable as Nomad makes it.
func buildAllocDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("alloc dir: %w", err)
	}
	_ = os.Chmod(dir, 0o755)
	for _, sub := range []string{"alloc", "alloc/logs", "alloc/data", "alloc/tmp"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o777); err != nil {
			return fmt.Errorf("alloc dir: %w", err)
		}
		_ = os.Chmod(p, 0o777)
	}
	return nil
}

func taskDirPath(dataDir, allocID, task string) string {
	return filepath.Join(dataDir, allocID, task)
}

// newEvent is a task event with its display message.
func newEvent(typ, display string) *api.TaskEvent {
	return &api.TaskEvent{Type: typ, Time: now(), DisplayMessage: display, Details: map[string]string{}}
}
