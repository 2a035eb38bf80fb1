package nomadtest

import (
	"net/http"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// Read-only endpoints besides the job ones: allocations, evaluations, deployments,
// agent, status, regions, nodes, namespaces.

func onlyGet(r *http.Request) error {
	if r.Method != http.MethodGet {
		return errInvalidMethod
	}
	return nil
}

func (s *Server) allocationsRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	ns, prefix := requestNamespace(r), q.Get("prefix")
	// The stub fields a list may add (resources) or drop (task_states), as Nomad 1.6.
	resources, err := boolParam(q, "resources")
	if err != nil {
		return nil, err
	}
	taskStates := true
	if q.Get("task_states") != "" {
		if taskStates, err = boolParam(q, "task_states"); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableAllocs))
	out := []*api.AllocationListStub{}
	for _, e := range s.sortedAllocs() {
		if (ns == "*" || e.alloc.Namespace == ns) && strings.HasPrefix(e.alloc.ID, prefix) {
			stub := allocStub(e.alloc)
			if resources {
				stub.AllocatedResources = e.alloc.AllocatedResources
			}
			if !taskStates {
				stub.TaskStates = nil
			}
			out = append(out, stub)
		}
	}
	return paginate(r, out, func(a *api.AllocationListStub) pageKey {
		if prefix != "" {
			return pageKey{id: a.ID}
		}
		return pageKey{byIndex: true, index: a.CreateIndex, id: a.ID}
	})
}

func (s *Server) allocationRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	parts := pathParts(r, "/v1/allocation/")
	if len(parts) == 2 && parts[1] == "stop" {
		return s.allocStop(r, parts[0])
	}
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	if len(parts) != 1 || parts[0] == "" {
		return nil, coded(http.StatusNotFound, "Invalid URL")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.allocs[parts[0]]
	if e == nil || !namespaceMatches(r, e.alloc.Namespace) {
		return nil, coded(http.StatusNotFound, "alloc not found")
	}
	setIndex(r, e.alloc.ModifyIndex)
	return e.alloc, nil
}

// namespaceMatches: reads by ID are scoped to ?namespace= (or "default"), "*" for any.
func namespaceMatches(r *http.Request, ns string) bool {
	want := requestNamespace(r)
	return want == "*" || want == ns
}

func (s *Server) evaluationsRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method == http.MethodDelete {
		return s.evaluationsDelete(r)
	}
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	ns, prefix := requestNamespace(r), q.Get("prefix")
	jobID, status := q.Get("job"), q.Get("status")
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableEvals))
	out := []*api.Evaluation{}
	for _, e := range s.evals {
		if (ns == "*" || e.Namespace == ns) && strings.HasPrefix(e.ID, prefix) &&
			(jobID == "" || e.JobID == jobID) && (status == "" || e.Status == status) {
			out = append(out, e)
		}
	}
	return paginate(r, out, func(e *api.Evaluation) pageKey {
		if prefix != "" {
			return pageKey{id: e.ID}
		}
		return pageKey{byIndex: true, index: e.CreateIndex, id: e.ID}
	})
}

func (s *Server) evaluationRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	parts := pathParts(r, "/v1/evaluation/")
	if len(parts) == 0 || parts[0] == "" || len(parts) > 2 {
		return nil, coded(http.StatusNotFound, "Invalid URL")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableEvals))
	e := s.evals[parts[0]]
	if len(parts) == 2 {
		if parts[1] != "allocations" {
			return nil, coded(http.StatusNotFound, "Invalid URL")
		}
		setIndex(r, s.tableIndex(tableAllocs))
		out := []*api.AllocationListStub{}
		for _, a := range s.sortedAllocs() {
			if a.alloc.EvalID == parts[0] {
				out = append(out, allocStub(a.alloc))
			}
		}
		return out, nil
	}
	if e == nil || !namespaceMatches(r, e.Namespace) {
		return nil, coded(http.StatusNotFound, "eval not found")
	}
	setIndex(r, e.ModifyIndex)
	related, err := boolParam(r.URL.Query(), "related")
	if err != nil {
		return nil, err
	}
	if related {
		withRelated := *e
		withRelated.RelatedEvals = s.relatedEvals(e)
		return &withRelated, nil
	}
	return e, nil
}

// relatedEvals are the evaluations linked to e through NextEval, PreviousEval and
// BlockedEval, transitively (Nomad's EvalsRelatedToID), as stubs; callers hold s.mu.
func (s *Server) relatedEvals(e *api.Evaluation) []*api.EvaluationStub {
	seen := map[string]bool{e.ID: true}
	queue := []*api.Evaluation{e}
	out := []*api.EvaluationStub{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		links := []string{cur.NextEval, cur.PreviousEval, cur.BlockedEval}
		// Links are stored on one side only (a blocked eval names its previous one):
		// follow the back references too.
		for _, o := range s.evals {
			if o.PreviousEval == cur.ID || o.NextEval == cur.ID || o.BlockedEval == cur.ID {
				links = append(links, o.ID)
			}
		}
		for _, id := range links {
			o := s.evals[id]
			if id == "" || seen[id] || o == nil {
				continue
			}
			seen[id] = true
			queue = append(queue, o)
			out = append(out, &api.EvaluationStub{
				ID: o.ID, Namespace: o.Namespace, Priority: o.Priority, Type: o.Type,
				TriggeredBy: o.TriggeredBy, JobID: o.JobID, NodeID: o.NodeID,
				DeploymentID: o.DeploymentID, Status: o.Status, StatusDescription: o.StatusDescription,
				WaitUntil: o.WaitUntil, NextEval: o.NextEval, PreviousEval: o.PreviousEval,
				BlockedEval: o.BlockedEval, CreateIndex: o.CreateIndex, ModifyIndex: o.ModifyIndex,
				CreateTime: o.CreateTime, ModifyTime: o.ModifyTime,
			})
		}
	}
	return out
}

func (s *Server) deploymentsRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	ns, prefix := requestNamespace(r), r.URL.Query().Get("prefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableDeployments))
	out := []*api.Deployment{}
	for _, d := range s.deployments {
		if (ns == "*" || d.Namespace == ns) && strings.HasPrefix(d.ID, prefix) {
			out = append(out, d)
		}
	}
	return paginate(r, out, func(d *api.Deployment) pageKey {
		if prefix != "" {
			return pageKey{id: d.ID}
		}
		return pageKey{byIndex: true, index: d.CreateIndex, id: d.ID}
	})
}

func (s *Server) deploymentRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	parts := pathParts(r, "/v1/deployment/")
	if len(parts) == 2 && (parts[0] == "fail" || parts[0] == "pause") {
		return s.deploymentOp(r, parts[0], parts[1])
	}
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableDeployments))
	switch {
	case len(parts) == 1 && parts[0] != "":
		d := s.deployments[parts[0]]
		if d == nil || !namespaceMatches(r, d.Namespace) {
			return nil, coded(http.StatusNotFound, "deployment not found")
		}
		setIndex(r, d.ModifyIndex)
		return d, nil
	case len(parts) == 2 && parts[0] == "allocations":
		setIndex(r, s.tableIndex(tableAllocs))
		out := []*api.AllocationListStub{}
		for _, e := range s.sortedAllocs() {
			if e.alloc.DeploymentID == parts[1] {
				out = append(out, allocStub(e.alloc))
			}
		}
		return out, nil
	}
	return nil, coded(http.StatusNotFound, "Invalid URL")
}

// agentSelf answers /v1/agent/self like a combined server+client agent. The Vault
// block comes from the agent config file, with the token redacted as Nomad does.
func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	vault := map[string]any{"Enabled": nil, "Addr": defaultVaultAddr, "Role": "", "TaskTokenTTL": "", "Namespace": "", "Token": "", "AllowUnauthenticated": true}
	if vc, err := s.readVaultConfig(); err == nil {
		vault["Enabled"] = vc.Enabled
		vault["Addr"] = vc.address()
		vault["Role"] = vc.Role
		vault["TaskTokenTTL"] = vc.TaskTokenTTL
		vault["Namespace"] = vc.Namespace
		if vc.Token != "" {
			vault["Token"] = "<redacted>"
		}
		if vc.AllowUnauthenticated != nil {
			vault["AllowUnauthenticated"] = *vc.AllowUnauthenticated
		}
	}
	return map[string]any{
		"config": map[string]any{
			"Region":     s.cfg.Region,
			"Datacenter": s.node.Datacenter,
			"NodeName":   s.node.Name,
			"Version":    map[string]any{"Version": s.version(), "VersionPrerelease": "", "VersionMetadata": "", "Revision": ""},
			"Server":     map[string]any{"Enabled": true, "BootstrapExpect": 1},
			"Client":     map[string]any{"Enabled": !s.cfg.NoClient, "Options": map[string]string{"driver.raw_exec.enable": "1"}},
			"Vault":      vault,
			"Consul":     map[string]any{"Addr": s.cfg.ConsulAddr},
		},
		"member": s.member(),
		"stats": map[string]map[string]string{
			"nomad":  {"server": "true", "leader": "true", "leader_addr": "127.0.0.1:4647", "bootstrap": "true", "known_regions": "1"},
			"client": {"node_id": s.node.ID, "known_servers": "127.0.0.1:4647"},
		},
	}, nil
}

// member is the one server as the gossip pool lists it.
func (s *Server) member() *api.AgentMember {
	return &api.AgentMember{
		Name:   s.memberName(),
		Addr:   "127.0.0.1",
		Port:   uint16(s.serfPort()),
		Status: "alive",
		Tags: map[string]string{
			"region": s.cfg.Region, "dc": s.node.Datacenter, "build": s.version(),
			"role": "nomad", "port": "4647", "bootstrap": "1", "expect": "1",
		},
		ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
	}
}

// agentMembers serves /v1/agent/members: this server, then the members it joined.
func (s *Server) agentMembers(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	members := []*api.AgentMember{s.member()}
	s.mu.Lock()
	for _, p := range s.peers {
		c := *p
		members = append(members, &c)
	}
	s.mu.Unlock()
	return &api.ServerMembers{
		ServerName:   s.memberName(),
		ServerRegion: s.cfg.Region,
		ServerDC:     s.node.Datacenter,
		Members:      members,
	}, nil
}

func (s *Server) agentHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	ok := map[string]any{"ok": true, "message": "ok"}
	return map[string]any{"client": ok, "server": ok}, nil
}

func (s *Server) statusLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	return "127.0.0.1:4647", onlyGet(r)
}

func (s *Server) statusPeers(w http.ResponseWriter, r *http.Request) (any, error) {
	return []string{"127.0.0.1:4647"}, onlyGet(r)
}

func (s *Server) regions(w http.ResponseWriter, r *http.Request) (any, error) {
	return []string{s.cfg.Region}, onlyGet(r)
}
