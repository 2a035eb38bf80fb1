package consul

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// register(name, id=None, address=None, port=None, tags=[], meta={}, check=None) makes
// the agent's service `id` (default: name) be exactly this, and returns the id.
//
// It is declarative against the agent's own service list (/v1/agent/services): a
// service that already matches field by field is Unchanged and nothing is written;
// otherwise the plan shows a diff per field, and apply registers the whole definition
// again, replacing its checks (so a check the script dropped goes away too).
//
// check is a dict: {"type": "tcp", "tcp": "host:port", "interval": "10s",
// "timeout": "5s"}, {"type": "http", "http": "http://…", …} or {"type": "ttl",
// "ttl": "30s"}; type may be left out when exactly one of tcp/http/ttl is given.
// Consul's API never shows a check's target or TTL again, so the check's Notes carry
// nvrun's one-line description of it; that is what the next run compares.
func (c *consul) register(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var idV, addrV, portV, tagsV, metaV, checkV starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "id?", &idV, "address?", &addrV,
		"port?", &portV, "tags?", &tagsV, "meta?", &metaV, "check?", &checkV); err != nil {
		return nil, err
	}
	want, unknown, err := parseService(fn.Name(), name, idV, addrV, portV, tagsV, metaV, checkV)
	if err != nil {
		return nil, err
	}
	wantFields := want.fields()
	for i := range wantFields {
		if u, ok := unknown[wantFields[i].key]; ok {
			wantFields[i].shown, wantFields[i].empty = u, false
		}
	}
	return c.run.Converge(thread, runtime.Resource{
		Server:  c.server,
		Address: fmt.Sprintf("consul service %q", want.id),
		Read:    c.serviceReader(want.id),
		Diff: func(live runtime.Live) runtime.Change {
			change := runtime.Change{Action: runtime.Create, Planned: starlark.String(want.id)}
			have, _ := live.Value.(*serviceSpec)
			if have == nil {
				for _, f := range wantFields {
					if f.key == "name" || !f.empty {
						change.Diff = append(change.Diff, runtime.DiffLine{Op: "+", Key: f.key, After: f.shown})
					}
				}
				change.Summary = want.summary()
				return change
			}
			liveFields := have.fields()
			var changed []string
			for i, f := range wantFields {
				_, isUnknown := unknown[f.key]
				if isUnknown || f.shown != liveFields[i].shown {
					change.Diff = append(change.Diff, runtime.DiffLine{Op: "~", Key: f.key, Before: liveFields[i].shown, After: f.shown})
					changed = append(changed, f.key)
				}
			}
			if len(changed) == 0 {
				return runtime.Change{Action: runtime.Unchanged, Planned: change.Planned}
			}
			change.Action = runtime.Update
			change.Summary = strings.Join(changed, ", ")
			return change
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			if err := c.registerService(ctx, want); err != nil {
				return nil, err
			}
			return starlark.String(want.id), nil
		},
		Delete: func(ctx context.Context) error { return c.deregisterService(ctx, want.id) },
	})
}

// deregister(id) removes the agent's service `id`, if it is registered (Unchanged if not).
func (c *consul) deregister(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var id string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "id", &id); err != nil {
		return nil, err
	}
	return c.run.Converge(thread, runtime.Resource{
		Server:  c.server,
		Address: fmt.Sprintf("consul service %q", id),
		Read:    c.serviceReader(id),
		Diff: func(live runtime.Live) runtime.Change {
			if !live.Known() {
				return runtime.Change{Action: runtime.Delete, Planned: starlark.None, Summary: "if registered"}
			}
			have, _ := live.Value.(*serviceSpec)
			if have == nil {
				return runtime.Change{Action: runtime.Unchanged, Summary: "not registered"}
			}
			change := runtime.Change{Action: runtime.Delete, Planned: starlark.None}
			for _, f := range have.fields() {
				if f.key == "name" || !f.empty {
					change.Diff = append(change.Diff, runtime.DiffLine{Op: "-", Key: f.key, Before: f.shown})
				}
			}
			return change
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			return starlark.None, c.deregisterService(ctx, id)
		},
	})
}

// serviceSpec is a service definition, as the script wants it or as the agent has it.
type serviceSpec struct {
	id, name, address string
	port              int
	tags              []string
	meta              map[string]string
	check             string // the check's one-line description; "" for none
	checkDef          *checkSpec
}

type field struct {
	key, shown string
	empty      bool // the field's zero value, left out of a create's diff
}

// fields are the compared fields, in diff order. Two definitions are equal when every
// shown value is.
func (s *serviceSpec) fields() []field {
	tags, _ := json.Marshal(nonNil(s.tags))
	meta, _ := json.Marshal(nonNilMap(s.meta)) // encoding/json sorts map keys
	check := s.check
	if check == "" {
		check = "none"
	}
	return []field{
		{key: "name", shown: fmt.Sprintf("%q", s.name)},
		{key: "address", shown: fmt.Sprintf("%q", s.address), empty: s.address == ""},
		{key: "port", shown: fmt.Sprint(s.port), empty: s.port == 0},
		{key: "tags", shown: string(tags), empty: len(s.tags) == 0},
		{key: "meta", shown: string(meta), empty: len(s.meta) == 0},
		{key: "check", shown: check, empty: s.check == ""},
	}
}

func (s *serviceSpec) summary() string {
	var parts []string
	if s.port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", s.port))
	}
	if s.checkDef != nil {
		parts = append(parts, s.checkDef.kind+" check")
	}
	return strings.Join(parts, ", ")
}

// parseService checks the arguments. Arguments known only after apply are reported in
// unknown (field key -> the Unknown's text); the spec then has their zero value.
func parseService(fn, name string, idV, addrV, portV, tagsV, metaV, checkV starlark.Value) (*serviceSpec, map[string]string, error) {
	s := &serviceSpec{id: name, name: name}
	unknown := map[string]string{}
	isUnknown := func(key string, v starlark.Value) bool {
		if runtime.IsUnknown(v) {
			unknown[key] = v.String()
			return true
		}
		return false
	}
	if name == "" {
		return nil, nil, fmt.Errorf("%s: name must not be empty", fn)
	}
	if idV != starlark.None {
		id, ok := starlark.AsString(idV)
		if !ok || id == "" {
			return nil, nil, fmt.Errorf("%s: id must be a non-empty string, not %s", fn, idV.Type())
		}
		s.id = id
	}
	if addrV != starlark.None && !isUnknown("address", addrV) {
		a, ok := starlark.AsString(addrV)
		if !ok {
			return nil, nil, fmt.Errorf("%s: address must be a string, not %s", fn, addrV.Type())
		}
		s.address = a
	}
	if portV != starlark.None && !isUnknown("port", portV) {
		if err := starlark.AsInt(portV, &s.port); err != nil || s.port < 0 || s.port > 65535 {
			return nil, nil, fmt.Errorf("%s: port must be an int from 0 to 65535, not %s", fn, portV)
		}
	}
	if tagsV != starlark.None && !isUnknown("tags", tagsV) {
		tags, err := runtime.StringList(tagsV)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: tags: %w", fn, err)
		}
		s.tags = tags
	}
	if metaV != starlark.None && !isUnknown("meta", metaV) {
		d, ok := metaV.(*starlark.Dict)
		if !ok {
			return nil, nil, fmt.Errorf("%s: meta must be a dict of strings, not %s", fn, metaV.Type())
		}
		s.meta = map[string]string{}
		for _, kv := range d.Items() {
			k, ok1 := starlark.AsString(kv[0])
			v, ok2 := starlark.AsString(kv[1])
			if !ok1 || !ok2 {
				return nil, nil, fmt.Errorf("%s: meta must map strings to strings, got %s: %s", fn, kv[0].Type(), kv[1].Type())
			}
			s.meta[k] = v
		}
	}
	if checkV != starlark.None && !isUnknown("check", checkV) {
		chk, err := parseCheck(checkV)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: check: %w", fn, err)
		}
		s.checkDef, s.check = chk, chk.String()
	}
	return s, unknown, nil
}

// checkSpec is a service's health check.
type checkSpec struct {
	kind              string // tcp, http, ttl
	target            string // host:port or URL
	interval, timeout time.Duration
	ttl               time.Duration
}

func parseCheck(v starlark.Value) (*checkSpec, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("want a dict such as {\"type\": \"tcp\", \"tcp\": \"127.0.0.1:8080\", \"interval\": \"10s\"}, not %s", v.Type())
	}
	get := map[string]starlark.Value{}
	for _, kv := range d.Items() {
		k, _ := starlark.AsString(kv[0])
		switch k {
		case "type", "tcp", "http", "ttl", "interval", "timeout":
			get[k] = kv[1]
		default:
			return nil, fmt.Errorf("unknown key %s (want type, tcp, http, ttl, interval, timeout)", kv[0])
		}
	}
	c := &checkSpec{interval: 10 * time.Second, timeout: 5 * time.Second}
	if t, ok := get["type"]; ok {
		c.kind, _ = starlark.AsString(t)
	} else {
		for _, k := range []string{"tcp", "http", "ttl"} {
			if _, ok := get[k]; ok {
				if c.kind != "" {
					return nil, fmt.Errorf("give type: both %s and %s are set", c.kind, k)
				}
				c.kind = k
			}
		}
	}
	durationKey := func(key string, into *time.Duration) error {
		if v, ok := get[key]; ok {
			d, err := runtime.Duration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*into = d
		}
		return nil
	}
	switch c.kind {
	case "tcp", "http":
		target, ok := starlark.AsString(get[c.kind])
		if !ok || target == "" {
			return nil, fmt.Errorf("a %s check needs %q: the %s", c.kind, c.kind, map[string]string{"tcp": "host:port to dial", "http": "URL to GET"}[c.kind])
		}
		c.target = target
		if err := durationKey("interval", &c.interval); err != nil {
			return nil, err
		}
		if err := durationKey("timeout", &c.timeout); err != nil {
			return nil, err
		}
		if c.interval <= 0 {
			return nil, fmt.Errorf("interval must be positive")
		}
	case "ttl":
		if _, ok := get["ttl"]; !ok {
			return nil, fmt.Errorf("a ttl check needs \"ttl\", e.g. \"30s\"")
		}
		if err := durationKey("ttl", &c.ttl); err != nil {
			return nil, err
		}
		c.interval, c.timeout = 0, 0
	default:
		return nil, fmt.Errorf("type must be \"tcp\", \"http\" or \"ttl\", not %q", c.kind)
	}
	return c, nil
}

// String is the check's one-line description: shown in diffs, and stored in the check's
// Notes so the next run can compare it.
func (c *checkSpec) String() string {
	if c.kind == "ttl" {
		return "ttl " + runtime.ShortDuration(c.ttl)
	}
	return fmt.Sprintf("%s %s every %s, timeout %s", c.kind, c.target, runtime.ShortDuration(c.interval), runtime.ShortDuration(c.timeout))
}

// notesPrefix marks a check description written by nvrun.
const notesPrefix = "nvrun: "

func (c *checkSpec) registration(serviceID string) *api.AgentServiceCheck {
	chk := &api.AgentServiceCheck{CheckID: "service:" + serviceID, Notes: notesPrefix + c.String()}
	switch c.kind {
	case "tcp":
		chk.TCP = c.target
	case "http":
		chk.HTTP = c.target
	case "ttl":
		chk.TTL = c.ttl.String()
		return chk
	}
	chk.Interval, chk.Timeout = c.interval.String(), c.timeout.String()
	return chk
}

func (c *consul) registerService(ctx context.Context, s *serviceSpec) error {
	client, err := c.api()
	if err != nil {
		return err
	}
	reg := &api.AgentServiceRegistration{
		ID: s.id, Name: s.name, Address: s.address, Port: s.port, Tags: s.tags, Meta: s.meta,
	}
	if s.checkDef != nil {
		reg.Check = s.checkDef.registration(s.id)
	}
	return c.wrap(client.Agent().ServiceRegisterOpts(reg, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)))
}

// serviceReader reads the agent's definition of service id (absent: nil). The
// fingerprint is the service's ModifyIndex where the agent reports one; the agent's
// own service list does not, so it is otherwise a hash of the normalised definition.
func (c *consul) serviceReader(id string) runtime.ReadFunc {
	return func(ctx context.Context) (any, runtime.Fingerprint, error) {
		s, index, err := c.readService(ctx, id)
		switch {
		case s == nil || err != nil:
			return nil, "", err
		case index != 0:
			return s, runtime.IndexFingerprint(index), nil
		}
		norm := map[string]string{}
		for _, f := range s.fields() {
			norm[f.key] = f.shown
		}
		return s, runtime.HashFingerprint(norm), nil
	}
}

func (c *consul) deregisterService(ctx context.Context, id string) error {
	client, err := c.api()
	if err != nil {
		return err
	}
	return c.wrap(client.Agent().ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx)))
}

// readService returns the agent's definition of service id, with its checks
// described, and its modify index, or nil if the agent has no such service.
func (c *consul) readService(ctx context.Context, id string) (*serviceSpec, uint64, error) {
	client, err := c.api()
	if err != nil {
		return nil, 0, err
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	services, err := client.Agent().ServicesWithFilterOpts("", q)
	if err != nil {
		return nil, 0, c.wrap(err)
	}
	svc, ok := services[id]
	if !ok {
		return nil, 0, nil
	}
	// api.AgentCheck lacks the Interval the agent reports, hence a raw query.
	var checks map[string]struct {
		CheckID, ServiceID, Type, Notes, Interval string
	}
	if _, err := client.Raw().Query("/v1/agent/checks", &checks, q); err != nil {
		return nil, 0, c.wrap(err)
	}
	var descs []string
	for _, chk := range checks {
		if chk.ServiceID != id {
			continue
		}
		if d, ok := strings.CutPrefix(chk.Notes, notesPrefix); ok {
			descs = append(descs, d)
		} else {
			descs = append(descs, fmt.Sprintf("%s check %s (not registered by nvrun)", chk.Type, chk.CheckID))
		}
	}
	sort.Strings(descs)
	return &serviceSpec{
		id: svc.ID, name: svc.Service, address: svc.Address, port: svc.Port,
		tags: svc.Tags, meta: svc.Meta, check: strings.Join(descs, "; "),
	}, svc.ModifyIndex, nil
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
