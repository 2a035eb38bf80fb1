package consulfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
)

// Register adds or replaces a service on the agent, as PUT
// /v1/agent/service/register?replace-existing-checks=true does.
func (f *Fake) Register(reg *api.AgentServiceRegistration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registerLocked(reg, true)
}

func (f *Fake) register(r *http.Request) (*answer, error) {
	var reg api.AgentServiceRegistration
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&reg); err != nil {
		return nil, errorf(http.StatusBadRequest, "Request decode failed: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	replace := r.URL.Query().Has("replace-existing-checks")
	if err := f.registerLocked(&reg, replace); err != nil {
		return nil, err
	}
	return &answer{code: http.StatusOK, body: nil}, nil
}

// registerLocked validates and stores a registration; callers hold f.mu.
func (f *Fake) registerLocked(reg *api.AgentServiceRegistration, replaceChecks bool) error {
	if reg.Name == "" {
		return errorf(http.StatusBadRequest, "Missing service name")
	}
	if reg.Port < 0 || reg.Port > 65535 {
		return errorf(http.StatusBadRequest, "Invalid Service: Port must be between 0 and 65535")
	}
	id := reg.ID
	if id == "" {
		id = reg.Name
	}
	var defs []*api.AgentServiceCheck
	if reg.Check != nil {
		defs = append(defs, reg.Check)
	}
	defs = append(defs, reg.Checks...)
	var checks []*check
	for i, d := range defs {
		c, err := newCheck(id, reg.Name, reg.Tags, d, i, len(defs))
		if err != nil {
			return err
		}
		checks = append(checks, c)
	}

	idx := f.bump()
	svc := &service{ID: id, Name: reg.Name, Address: reg.Address, Port: reg.Port,
		Tags: slices.Clone(reg.Tags), Meta: cloneMap(reg.Meta), CreateIndex: idx, ModifyIndex: idx}
	if old := f.services[id]; old != nil {
		svc.CreateIndex = old.CreateIndex
	}
	f.services[id] = svc
	if replaceChecks {
		for cid, c := range f.checks {
			if c.ServiceID == id {
				delete(f.checks, cid)
			}
		}
	}
	for _, c := range checks {
		c.CreateIndex, c.ModifyIndex = idx, idx
		if old := f.checks[c.CheckID]; old != nil && old.Status != "" && !replaceChecks {
			c.Status = old.Status
		}
		f.checks[c.CheckID] = c
	}
	return nil
}

// newCheck is a service check as the agent stores it: its ID ("service:<id>", or
// "service:<id>:<n>" with several), name, type, and first status.
func newCheck(serviceID, serviceName string, tags []string, d *api.AgentServiceCheck, i, n int) (*check, error) {
	c := &check{CheckID: d.CheckID, Name: d.Name, ServiceID: serviceID, ServiceName: serviceName,
		Notes: d.Notes, Interval: d.Interval, Timeout: d.Timeout, ServiceTags: slices.Clone(tags), Status: d.Status}
	if c.CheckID == "" {
		c.CheckID = "service:" + serviceID
		if n > 1 {
			c.CheckID = fmt.Sprintf("service:%s:%d", serviceID, i+1)
		}
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("Service '%s' check", serviceName)
	}
	switch {
	case d.TTL != "":
		c.Type, c.Interval, c.Timeout = "ttl", "", ""
	case d.TCP != "":
		c.Type = "tcp"
	case d.HTTP != "":
		c.Type = "http"
	case d.GRPC != "":
		c.Type = "grpc"
	case len(d.Args) > 0:
		c.Type = "script"
	default:
		return nil, errorf(http.StatusBadRequest, "Invalid check: TTL must be > 0 for TTL checks")
	}
	if c.Type != "ttl" && c.Interval == "" {
		return nil, errorf(http.StatusBadRequest, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks")
	}
	if c.Status == "" {
		// The fake runs no check: what it would probe is not there to probe.
		c.Status = api.HealthPassing
		if c.Type == "ttl" {
			c.Status = api.HealthCritical
		}
	}
	return c, nil
}

func (f *Fake) deregister(id string) (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.services[id]; !ok {
		return nil, errorf(http.StatusNotFound, "Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
	}
	delete(f.services, id)
	for cid, c := range f.checks {
		if c.ServiceID == id {
			delete(f.checks, cid)
		}
	}
	f.bump()
	return &answer{code: http.StatusOK, body: nil}, nil
}

func (f *Fake) agentServices() (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]any{}
	for id, s := range f.services {
		out[id] = map[string]any{
			"ID": s.ID, "Service": s.Name, "Tags": nonNil(s.Tags), "Meta": nonNilMap(s.Meta),
			"Port": s.Port, "Address": s.Address, "Weights": weights, "EnableTagOverride": false,
			"Datacenter": f.dc,
		}
	}
	return ok(out), nil
}

var weights = map[string]int{"Passing": 1, "Warning": 1}

func (f *Fake) agentChecks() (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]any{}
	for id, c := range f.checks {
		out[id] = f.checkJSON(c)
	}
	return ok(out), nil
}

func (f *Fake) checkJSON(c *check) map[string]any {
	return map[string]any{
		"Node": f.node, "CheckID": c.CheckID, "Name": c.Name, "Status": c.Status, "Notes": c.Notes,
		"Output": c.Output, "ServiceID": c.ServiceID, "ServiceName": c.ServiceName,
		"ServiceTags": nonNil(c.ServiceTags), "Type": c.Type, "Interval": c.Interval, "Timeout": c.Timeout,
		"ExposedPort": 0, "Definition": map[string]any{}, "CreateIndex": c.CreateIndex, "ModifyIndex": c.ModifyIndex,
	}
}

// serfHealth is the node's own check, which every health entry carries.
func (f *Fake) serfHealth() map[string]any {
	return map[string]any{
		"Node": f.node, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": api.HealthPassing,
		"Notes": "", "Output": "Agent alive and reachable", "ServiceID": "", "ServiceName": "",
		"ServiceTags": []string{}, "Type": "", "Interval": "", "Timeout": "", "ExposedPort": 0,
		"Definition": map[string]any{}, "CreateIndex": 11, "ModifyIndex": 11,
	}
}

// instances are the services named name with every tag in tags, the agent's own
// "consul" service included, ordered by ID.
func (f *Fake) instances(name string, tags []string) []*service {
	var out []*service
	all := append([]*service{f.consulService()}, f.sortedServices()...)
	for _, s := range all {
		if s.Name != name {
			continue
		}
		hasAll := true
		for _, t := range tags {
			if !slices.ContainsFunc(s.Tags, func(x string) bool { return strings.EqualFold(x, t) }) {
				hasAll = false
			}
		}
		if hasAll {
			out = append(out, s)
		}
	}
	return out
}

// consulService is the server's own catalog entry.
func (f *Fake) consulService() *service {
	return &service{ID: "consul", Name: "consul", Port: 8300, Meta: map[string]string{}, CreateIndex: 12, ModifyIndex: 12}
}

func (f *Fake) sortedServices() []*service {
	out := make([]*service, 0, len(f.services))
	for _, id := range slices.Sorted(maps.Keys(f.services)) {
		out = append(out, f.services[id])
	}
	return out
}

func (f *Fake) checksOf(serviceID string) []*check {
	var out []*check
	for _, id := range slices.Sorted(maps.Keys(f.checks)) {
		if c := f.checks[id]; c.ServiceID == serviceID {
			out = append(out, c)
		}
	}
	return out
}

func (f *Fake) nodeJSON() map[string]any {
	return map[string]any{
		"Node": f.node, "Address": f.addr, "Datacenter": f.dc,
		"TaggedAddresses": map[string]string{"lan": f.addr, "lan_ipv4": f.addr, "wan": f.addr, "wan_ipv4": f.addr},
		"Meta":            map[string]string{"consul-network-segment": ""},
	}
}

func (f *Fake) serviceJSON(s *service) map[string]any {
	out := map[string]any{
		"ID": s.ID, "Service": s.Name, "Tags": nonNil(s.Tags), "Address": s.Address, "Meta": s.Meta,
		"Weights": weights, "EnableTagOverride": false,
		"CreateIndex": s.CreateIndex, "ModifyIndex": s.ModifyIndex,
	}
	if s.Port != 0 {
		out["Port"] = s.Port // omitted when zero, as Consul's health answer does
	}
	return out
}

func (f *Fake) healthService(name string, tags []string, passing bool) (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []any{}
	for _, s := range f.instances(name, tags) {
		checks := []any{f.serfHealth()}
		all := true
		for _, c := range f.checksOf(s.ID) {
			checks = append(checks, f.checkJSON(c))
			all = all && c.Status == api.HealthPassing
		}
		if passing && !all {
			continue
		}
		out = append(out, map[string]any{"Node": f.nodeJSON(), "Service": f.serviceJSON(s), "Checks": checks})
	}
	return read(out, f.index), nil
}

func (f *Fake) catalogServices() (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{"consul": {}}
	for _, s := range f.services {
		tags := out[s.Name]
		if tags == nil {
			tags = []string{}
		}
		for _, t := range s.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		out[s.Name] = tags
	}
	return read(out, f.index), nil
}

func (f *Fake) catalogService(name string, tags []string) (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []any{}
	for _, s := range f.instances(name, tags) {
		out = append(out, map[string]any{
			"Node": f.node, "Address": f.addr, "Datacenter": f.dc,
			"ServiceID": s.ID, "ServiceName": s.Name, "ServiceTags": nonNil(s.Tags),
			"ServiceAddress": s.Address, "ServicePort": s.Port, "ServiceMeta": nonNilMap(s.Meta),
			"CreateIndex": s.CreateIndex, "ModifyIndex": s.ModifyIndex,
		})
	}
	return read(out, f.index), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
