package nomadtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// Nomad's prefixes for the services and checks it registers in Consul.
const (
	nomadServicePrefix = "_nomad-task-"
	nomadCheckPrefix   = "_nomad-check-"
)

// consul returns the double's one Consul client. One, not one per call: each new client
// brings its own connection pool, and health polling would soon exceed the agent's
// per-client connection limit (it then answers 429).
func (s *Server) consul() (*consulapi.Client, error) {
	if s.cfg.ConsulAddr == "" {
		return nil, nil
	}
	s.consulOnce.Do(func() {
		cfg := &consulapi.Config{Address: consulHTTPBase(s.cfg.ConsulAddr)}
		if s.cfg.ConsulTransport != nil {
			cfg.HttpClient = &http.Client{Transport: s.cfg.ConsulTransport}
		}
		s.consulClient, s.consulErr = consulapi.NewClient(cfg)
	})
	return s.consulClient, s.consulErr
}

// serviceID is Nomad's MakeAllocServiceID; owner is the task name, or "group-<name>".
func serviceID(allocID, owner string, svc *api.Service) string {
	return fmt.Sprintf("%s%s-%s-%s-%s", nomadServicePrefix, allocID, owner, svc.Name, svc.PortLabel)
}

// checkID is a stable ID per service and check, like Nomad's MakeCheckID.
func checkID(serviceID string, c api.ServiceCheck) string {
	b, _ := json.Marshal(c)
	sum := sha1.Sum(append([]byte(serviceID), b...))
	return nomadCheckPrefix + hex.EncodeToString(sum[:])
}

// registerGroupServices registers the group's consul services of an allocation and
// returns their IDs.
func (s *Server) registerGroupServices(a *api.Allocation) []string {
	tg := lookupGroup(a.Job, a.TaskGroup)
	env := map[string]string{
		"NOMAD_ALLOC_ID":   a.ID,
		"NOMAD_ALLOC_NAME": a.Name,
		"NOMAD_JOB_ID":     a.JobID,
		"NOMAD_JOB_NAME":   str(a.Job.Name),
		"NOMAD_GROUP_NAME": a.TaskGroup,
		"NOMAD_DC":         s.node.Datacenter,
		"NOMAD_REGION":     s.node.Region,
		"NOMAD_NAMESPACE":  a.Namespace,
	}
	return s.registerServices(a, "group-"+a.TaskGroup, tg.Services, nil, env)
}

func (tr *taskRunner) registerServices() {
	ids := tr.s.registerServices(tr.alloc, tr.task.Name, tr.task.Services, tr.nets, tr.buildEnv(""))
	tr.mu.Lock()
	tr.services = ids
	tr.registered = true
	tr.mu.Unlock()
	tr.ar.kickHealth()
}

func (tr *taskRunner) deregisterServices() {
	tr.mu.Lock()
	ids := tr.services
	tr.services = nil
	tr.mu.Unlock()
	tr.s.deregisterServices(ids)
}

func (s *Server) registerServices(a *api.Allocation, owner string, services []*api.Service, taskNets []*api.NetworkResource, env map[string]string) []string {
	client, err := s.consul()
	if client == nil || err != nil {
		return nil
	}
	var ids []string
	for _, svc := range services {
		if svc.Provider == "nomad" {
			continue // Nomad's own service discovery: not in Consul
		}
		ns := *svc
		ns.Name = s.interpolate(svc.Name, env)
		id := serviceID(a.ID, owner, &ns)
		port := resolvePort(a, taskNets, svc.PortLabel)
		reg := &consulapi.AgentServiceRegistration{
			ID:                id,
			Name:              ns.Name,
			Port:              port,
			Address:           "127.0.0.1",
			EnableTagOverride: svc.EnableTagOverride,
			Meta:              map[string]string{"external-source": "nomad"},
		}
		if svc.Address != "" {
			reg.Address = s.interpolate(svc.Address, env)
		}
		for _, t := range svc.Tags {
			reg.Tags = append(reg.Tags, s.interpolate(t, env))
		}
		for k, v := range svc.Meta {
			reg.Meta[k] = s.interpolate(v, env)
		}
		for _, c := range svc.Checks {
			reg.Checks = append(reg.Checks, consulCheck(id, svc, c, a, taskNets, env, s))
		}
		if err := client.Agent().ServiceRegister(reg); err != nil {
			s.logf("registering service %q in Consul: %v", ns.Name, err)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func consulCheck(serviceID string, svc *api.Service, c api.ServiceCheck, a *api.Allocation, taskNets []*api.NetworkResource, env map[string]string, s *Server) *consulapi.AgentServiceCheck {
	name := c.Name
	if name == "" {
		name = fmt.Sprintf("service: %q check", svc.Name)
	}
	out := &consulapi.AgentServiceCheck{
		CheckID:                checkID(serviceID, c),
		Name:                   name,
		Interval:               c.Interval.String(),
		Timeout:                c.Timeout.String(),
		Status:                 c.InitialStatus,
		Notes:                  c.Notes,
		TLSServerName:          c.TLSServerName,
		TLSSkipVerify:          c.TLSSkipVerify,
		SuccessBeforePassing:   c.SuccessBeforePassing,
		FailuresBeforeCritical: c.FailuresBeforeCritical,
		FailuresBeforeWarning:  c.FailuresBeforeWarning,
	}
	label := c.PortLabel
	if label == "" {
		label = svc.PortLabel
	}
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(resolvePort(a, taskNets, label)))
	switch strings.ToLower(c.Type) {
	case "tcp":
		out.TCP = hostPort
	case "http":
		proto := c.Protocol
		if proto == "" {
			proto = "http"
		}
		out.HTTP = proto + "://" + hostPort + s.interpolate(c.Path, env)
		out.Method, out.Header, out.Body = c.Method, c.Header, c.Body
	case "grpc":
		out.GRPC = hostPort
		if c.GRPCService != "" {
			out.GRPC += "/" + c.GRPCService
		}
		out.GRPCUseTLS = c.GRPCUseTLS
	default:
		// Script checks run inside the task in Nomad, which updates a TTL check; the
		// double runs none and reports them passing.
		out.Interval, out.Timeout = "", ""
		out.TTL = (c.Interval + c.Timeout).String()
		out.Status = "passing"
	}
	return out
}

// resolvePort finds the host port of a label: group ports first, then the task's.
func resolvePort(a *api.Allocation, taskNets []*api.NetworkResource, label string) int {
	if label == "" {
		return 0
	}
	if a.AllocatedResources != nil {
		for _, p := range a.AllocatedResources.Shared.Ports {
			if p.Label == label {
				return p.Value
			}
		}
	}
	for _, n := range taskNets {
		for _, p := range append(append([]api.Port(nil), n.ReservedPorts...), n.DynamicPorts...) {
			if p.Label == label {
				return p.Value
			}
		}
	}
	if n, err := strconv.Atoi(label); err == nil {
		return n
	}
	return 0
}

func (s *Server) deregisterServices(ids []string) {
	if len(ids) == 0 {
		return
	}
	client, err := s.consul()
	if client == nil || err != nil {
		return
	}
	for _, id := range ids {
		if err := client.Agent().ServiceDeregister(id); err != nil {
			s.logf("deregistering service %s from Consul: %v", id, err)
		}
	}
}

// checksPassing reports whether every Consul check of the allocation's services passes
// (true without Consul or without checks).
func (s *Server) checksPassing(allocID string) bool {
	client, err := s.consul()
	if client == nil || err != nil {
		return true
	}
	checks, err := client.Agent().Checks()
	if err != nil {
		return false
	}
	for _, c := range checks {
		if strings.HasPrefix(c.ServiceID, nomadServicePrefix+allocID+"-") && c.Status != consulapi.HealthPassing {
			return false
		}
	}
	return true
}
