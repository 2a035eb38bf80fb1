package nomadtest

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The node endpoints: /v1/nodes, /v1/node/<id>[/...] and the client's host stats, for
// the one client node (node_register.go).

var errNodeNotFound = coded(http.StatusNotFound, "node not found")

func (s *Server) nodesRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	resources, err := boolParam(r.URL.Query(), "resources")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	setIndex(r, s.tableIndex(tableNodes))
	out := []*api.NodeListStub{}
	if s.nodeRec != nil && strings.HasPrefix(s.node.ID, r.URL.Query().Get("prefix")) {
		stub := s.nodeStub()
		if resources {
			stub.NodeResources, stub.ReservedResources = s.node.resources(s.cfg.PortRange)
		}
		out = append(out, stub)
	}
	s.mu.Unlock()
	return paginate(r, out, func(n *api.NodeListStub) pageKey { return pageKey{id: n.ID} })
}

func (s *Server) drivers() map[string]*api.DriverInfo {
	drivers := map[string]*api.DriverInfo{}
	for d := range s.node.drivers {
		drivers[d] = &api.DriverInfo{Detected: true, Healthy: true, HealthDescription: "Healthy"}
	}
	return drivers
}

// nodeStub is the client node as /v1/nodes lists it; callers hold s.mu.
func (s *Server) nodeStub() *api.NodeListStub {
	rec := s.nodeRec
	return &api.NodeListStub{
		Address:               "127.0.0.1",
		ID:                    s.node.ID,
		Datacenter:            s.node.Datacenter,
		Name:                  s.node.Name,
		NodePool:              "default",
		Version:               s.version(),
		SchedulingEligibility: rec.eligibility,
		Drain:                 rec.drain.strategy != nil,
		LastDrain:             copyDrainMetadata(rec.drain.last),
		Status:                "ready",
		Drivers:               s.drivers(),
		CreateIndex:           rec.createIndex,
		ModifyIndex:           rec.modifyIndex,
	}
}

// nodeWithSecret is a node as Nomad's node endpoint answers it: its SecretID is
// sanitized to "", not left out.
type nodeWithSecret struct {
	*api.Node
	SecretID string
}

// nodeInfoLocked is the full node; callers hold s.mu and know it is registered.
func (s *Server) nodeInfoLocked() *nodeWithSecret {
	rec := s.nodeRec
	res, reserved := s.node.resources(s.cfg.PortRange)
	attrs := make(map[string]string, len(s.node.attrs))
	for k, v := range s.node.attrs {
		attrs[k] = v
	}
	attrs["nomad.version"] = s.version()
	events := make([]*api.NodeEvent, len(rec.events))
	copy(events, rec.events)
	return &nodeWithSecret{Node: &api.Node{
		ID:                    s.node.ID,
		Datacenter:            s.node.Datacenter,
		Name:                  s.node.Name,
		HTTPAddr:              strings.TrimPrefix(s.URL, "http://"),
		Attributes:            attrs,
		NodeResources:         res,
		ReservedResources:     reserved,
		Links:                 map[string]string{},
		Meta:                  map[string]string{},
		NodePool:              "default",
		SchedulingEligibility: rec.eligibility,
		Drain:                 rec.drain.strategy != nil,
		DrainStrategy:         copyDrainStrategy(rec.drain.strategy),
		LastDrain:             copyDrainMetadata(rec.drain.last),
		Status:                "ready",
		StatusUpdatedAt:       rec.statusUpdatedAt,
		Events:                events,
		Drivers:               s.drivers(),
		HostVolumes:           map[string]*api.HostVolumeInfo{},
		HostNetworks:          map[string]*api.HostNetworkInfo{},
		CSIControllerPlugins:  map[string]*api.CSIInfo{},
		CSINodePlugins:        map[string]*api.CSIInfo{},
		CreateIndex:           rec.createIndex,
		ModifyIndex:           rec.modifyIndex,
	}}
}

// nodeRequest serves /v1/node/<id>, .../allocations, .../evaluate, .../eligibility
// and .../purge, with Nomad 1.6's methods and error texts.
func (s *Server) nodeRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	parts := pathParts(r, "/v1/node/")
	if len(parts) == 0 || parts[0] == "" || len(parts) > 2 {
		return nil, coded(http.StatusNotFound, "Invalid URL")
	}
	id, op := parts[0], ""
	if len(parts) == 2 {
		op = parts[1]
	}
	write := func() error {
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			return errInvalidMethod
		}
		return nil
	}
	switch op {
	case "":
		if err := onlyGet(r); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.nodeRec == nil || id != s.node.ID {
			setIndex(r, s.tableIndex(tableNodes))
			return nil, errNodeNotFound
		}
		setIndex(r, s.nodeRec.modifyIndex)
		return s.nodeInfoLocked(), nil
	case "allocations":
		if err := onlyGet(r); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		setIndex(r, s.tableIndex(tableAllocs))
		out := []*api.Allocation{}
		for _, e := range s.sortedAllocs() {
			if e.alloc.NodeID == id {
				out = append(out, e.alloc)
			}
		}
		return out, nil
	case "evaluate":
		if err := write(); err != nil {
			return nil, err
		}
		return s.nodeEvaluate(r, id, "node-update")
	case "eligibility":
		if err := write(); err != nil {
			return nil, err
		}
		return s.nodeEligibility(r, id)
	case "drain":
		if err := write(); err != nil {
			return nil, err
		}
		return s.nodeDrain(r, id)
	case "purge":
		if err := write(); err != nil {
			return nil, err
		}
		return s.nodePurge(r, id)
	}
	return nil, coded(http.StatusNotFound, "Invalid URL")
}

// nodeUpdateResponse is Nomad's NodeUpdateResponse (evaluate, purge).
type nodeUpdateResponse struct {
	HeartbeatTTL    time.Duration
	EvalIDs         []string
	EvalCreateIndex uint64
	NodeModifyIndex uint64
	queryMeta
}

// nodeEvals creates and runs an evaluation for each job with an allocation on the node
// (Nomad's createNodeEvals; the double runs no system jobs); callers hold s.mu.
func (s *Server) nodeEvals(triggeredBy string, attrs map[string]string) ([]string, uint64) {
	seen := map[nsID]bool{}
	var ids []string
	var createIndex uint64
	for _, e := range s.sortedAllocs() {
		key := nsID{e.alloc.Namespace, e.alloc.JobID}
		je := s.jobs[key]
		if e.alloc.NodeID != s.node.ID || seen[key] || je == nil {
			continue
		}
		seen[key] = true
		eval := s.newEval(je.job, triggeredBy)
		eval.NodeID = s.node.ID
		ids = append(ids, eval.ID)
		createIndex = eval.CreateIndex
		s.runEval(eval, je.job, attrs, false)
	}
	return ids, createIndex
}

func (s *Server) nodeEvaluate(r *http.Request, id, trigger string) (any, error) {
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodeRec == nil || id != s.node.ID {
		return nil, rpcError(errNodeNotFoundText)
	}
	ids, createIndex := s.nodeEvals(trigger, attrs)
	idx := s.index
	return &nodeUpdateResponse{EvalIDs: ids, EvalCreateIndex: createIndex, NodeModifyIndex: s.nodeRec.modifyIndex,
		queryMeta: queryMeta{Index: idx, KnownLeader: true}}, nil
}

var errNodeNotFoundText = errString("node not found")

type errString string

func (e errString) Error() string { return string(e) }

// nodeEligibility serves PUT /v1/node/<id>/eligibility (NodeUpdateEligibilityRequest).
func (s *Server) nodeEligibility(r *http.Request, id string) (any, error) {
	var req struct {
		NodeID      string
		Eligibility string
		writeRequest
	}
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if req.NodeID == "" {
		req.NodeID = id
	}
	if req.NodeID != id {
		return nil, coded(http.StatusBadRequest, "Node ID does not match request")
	}
	if req.Eligibility != api.NodeSchedulingEligible && req.Eligibility != api.NodeSchedulingIneligible {
		return nil, rpcError(errString("invalid scheduling eligibility \"" + req.Eligibility + "\""))
	}
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodeRec == nil || id != s.node.ID {
		return nil, rpcError(errString("node not found"))
	}
	if s.nodeRec.eligibility != req.Eligibility {
		idx := s.write(tableNodes)
		s.nodeRec.eligibility, s.nodeRec.modifyIndex = req.Eligibility, idx
		if req.Eligibility == api.NodeSchedulingEligible {
			s.nodeEvent(idx, "Node marked as eligible for scheduling")
			s.unblockEvals(attrs)
		} else {
			s.nodeEvent(idx, "Node marked as ineligible for scheduling")
		}
		s.publishNode(idx, "NodeEligibility")
	}
	idx := s.nodeRec.modifyIndex
	return &nodeUpdateResponse{NodeModifyIndex: idx, queryMeta: queryMeta{Index: idx}}, nil
}

// writeRequest are the write-request fields a body may carry: Nomad's (AuthToken,
// IdempotencyToken) and nomad/api's (SecretID). The double reads none of them.
type writeRequest struct {
	Region, Namespace, AuthToken, IdempotencyToken, SecretID string
}

// nodePurge deregisters the node (Node.Deregister) and evaluates its jobs. The client
// is alive, so it registers again on its next heartbeat, as a Nomad client does when
// its server no longer knows it; the double does that at once.
func (s *Server) nodePurge(r *http.Request, id string) (any, error) {
	attrs := s.fingerprint(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodeRec == nil || id != s.node.ID {
		return nil, rpcError(errString("node not found: " + id))
	}
	idx := s.write(tableNodes)
	s.nodeRec = nil
	s.publishNode(idx, "NodeDeregistration")
	ids, createIndex := s.nodeEvals("node-update", attrs)
	s.registerNode(s.write(tableNodes))
	return &nodeUpdateResponse{EvalIDs: ids, EvalCreateIndex: createIndex, NodeModifyIndex: idx,
		queryMeta: queryMeta{Index: idx}}, nil
}

// clientStats serves /v1/client/stats?node_id=: the host's memory, the allocation
// directory's disk and the uptime, as the client's host stats collector reads them.
func (s *Server) clientStats(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	s.mu.Lock()
	known := s.nodeRec != nil
	s.mu.Unlock()
	if nodeID := r.URL.Query().Get("node_id"); nodeID != "" && (!known || nodeID != s.node.ID) {
		return nil, coded(http.StatusNotFound, "Unknown node")
	}
	mem := meminfo()
	stats := &api.HostStats{
		Memory: &api.HostMemoryStats{
			Total: mem["MemTotal"], Available: mem["MemAvailable"], Free: mem["MemFree"],
			Used: mem["MemTotal"] - mem["MemAvailable"],
		},
		CPU:         []*api.HostCPUStats{},
		DiskStats:   []*api.HostDiskStats{},
		DeviceStats: []*api.DeviceGroupStats{},
		Uptime:      uptime(),
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.DataDir, &fs); err == nil {
		size, avail, free := fs.Blocks*uint64(fs.Bsize), fs.Bavail*uint64(fs.Bsize), fs.Bfree*uint64(fs.Bsize)
		d := &api.HostDiskStats{Mountpoint: s.cfg.DataDir, Size: size, Available: avail, Used: size - free}
		if size > 0 {
			d.UsedPercent = float64(size-free) / float64(size) * 100
		}
		if fs.Files > 0 {
			d.InodesUsedPercent = float64(fs.Files-fs.Ffree) / float64(fs.Files) * 100
		}
		stats.AllocDirStats = d
	}
	return stats, nil
}

// meminfo is /proc/meminfo in bytes.
func meminfo() map[string]uint64 {
	out := map[string]uint64{}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err == nil {
			out[k] = n * 1024
		}
	}
	return out
}

func uptime() uint64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	secs, _ := strconv.ParseFloat(f, 64)
	return uint64(secs)
}
