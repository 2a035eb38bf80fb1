package nomadtest

import (
	"net/http"
	"sort"
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
	ns, prefix := requestNamespace(r), r.URL.Query().Get("prefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*api.AllocationListStub{}
	for _, e := range s.sortedAllocs() {
		if (ns == "*" || e.alloc.Namespace == ns) && strings.HasPrefix(e.alloc.ID, prefix) {
			out = append(out, allocStub(e.alloc))
		}
	}
	return out, nil
}

func (s *Server) allocationRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	parts := pathParts(r, "/v1/allocation/")
	if len(parts) != 1 || parts[0] == "" {
		return nil, coded(http.StatusNotFound, "Invalid URL")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.allocs[parts[0]]
	if e == nil || !namespaceMatches(r, e.alloc.Namespace) {
		return nil, coded(http.StatusNotFound, "alloc not found")
	}
	return e.alloc, nil
}

// namespaceMatches: reads by ID are scoped to ?namespace= (or "default"), "*" for any.
func namespaceMatches(r *http.Request, ns string) bool {
	want := requestNamespace(r)
	return want == "*" || want == ns
}

func (s *Server) evaluationsRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	ns, prefix := requestNamespace(r), r.URL.Query().Get("prefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*api.Evaluation{}
	for _, e := range s.evals {
		if (ns == "*" || e.Namespace == ns) && strings.HasPrefix(e.ID, prefix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
	return out, nil
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
	e := s.evals[parts[0]]
	if len(parts) == 2 {
		if parts[1] != "allocations" {
			return nil, coded(http.StatusNotFound, "Invalid URL")
		}
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
	return e, nil
}

func (s *Server) deploymentsRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	ns, prefix := requestNamespace(r), r.URL.Query().Get("prefix")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*api.Deployment{}
	for _, d := range s.deployments {
		if (ns == "*" || d.Namespace == ns) && strings.HasPrefix(d.ID, prefix) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
	return out, nil
}

func (s *Server) deploymentRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	parts := pathParts(r, "/v1/deployment/")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(parts) == 1 && parts[0] != "":
		d := s.deployments[parts[0]]
		if d == nil || !namespaceMatches(r, d.Namespace) {
			return nil, coded(http.StatusNotFound, "deployment not found")
		}
		return d, nil
	case len(parts) == 2 && parts[0] == "allocations":
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
			"Client":     map[string]any{"Enabled": true, "Options": map[string]string{"driver.raw_exec.enable": "1"}},
			"Vault":      vault,
			"Consul":     map[string]any{"Addr": s.cfg.ConsulAddr},
		},
		"member": api.AgentMember{
			Name:   s.node.Name + "." + s.cfg.Region,
			Addr:   "127.0.0.1",
			Port:   4648,
			Status: "alive",
			Tags: map[string]string{
				"region": s.cfg.Region, "dc": s.node.Datacenter, "build": s.version(),
				"role": "nomad", "port": "4647", "bootstrap": "1", "expect": "1",
			},
			ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
		},
		"stats": map[string]map[string]string{
			"nomad":  {"server": "true", "leader": "true", "leader_addr": "127.0.0.1:4647", "bootstrap": "true", "known_regions": "1"},
			"client": {"node_id": s.node.ID, "known_servers": "127.0.0.1:4647"},
		},
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

func (s *Server) nodesRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	drivers := map[string]*api.DriverInfo{}
	for d := range s.node.drivers {
		drivers[d] = &api.DriverInfo{Detected: true, Healthy: true, HealthDescription: "Healthy"}
	}
	return []*api.NodeListStub{{
		Address:               "127.0.0.1",
		ID:                    s.node.ID,
		Datacenter:            s.node.Datacenter,
		Name:                  s.node.Name,
		NodePool:              "default",
		Version:               s.version(),
		SchedulingEligibility: "eligible",
		Status:                "ready",
		Drivers:               drivers,
		CreateIndex:           1,
		ModifyIndex:           1,
	}}, nil
}

var defaultNamespace = &api.Namespace{Name: api.DefaultNamespace, Description: "Default shared namespace", CreateIndex: 1, ModifyIndex: 1}

func (s *Server) namespacesRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	return []*api.Namespace{defaultNamespace}, onlyGet(r)
}

func (s *Server) namespaceRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	if parts := pathParts(r, "/v1/namespace/"); len(parts) == 1 && parts[0] == api.DefaultNamespace {
		return defaultNamespace, nil
	}
	return nil, coded(http.StatusNotFound, "namespace not found")
}
