package consulfake

import (
	"fmt"
	"sort"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// instanceKeys are the fields of one described service instance: consul.register's
// arguments, plus status.
var instanceKeys = []string{"id", "address", "port", "tags", "meta", "check", "status"}

// FromStarlark builds a fake from state.consul(services={...}, kv={...}):
//
//	services = {"web": [{"address": "10.0.0.5", "port": 8080, "tags": ["v1"]}, ...]}
//	kv       = {"app/config": "text"}
//
// A service's value is one instance (a dict) or a list of them. An instance takes
// consul.register's arguments (id, address, port, tags, meta, check: the same dict) and
// is registered exactly as consul.register registers it, so a script that registers the
// same service plans it unchanged. Its id defaults to the name (name-1, name-2, ... when
// there are several). status ("passing", "warning" or "critical") is its check's
// status; an instance with no check is passing, and one with no check but another
// status gets a ttl check in that status (health and DNS answers leave out critical
// instances, as Consul's do).
func FromStarlark(kwargs []starlark.Tuple) (*Fake, error) {
	const where = "state.consul"
	args, err := fakenet.StateArgs(where, nil, kwargs, "services", "kv")
	if err != nil {
		return nil, err
	}
	f := New(Options{})
	if v, ok := args["services"]; ok {
		d, ok := v.(*starlark.Dict)
		if !ok {
			return nil, fakenet.WrongType(where, "services", "a dict of service name to instances", v)
		}
		for _, it := range d.Items() {
			name, ok := starlark.AsString(it[0])
			if !ok || name == "" {
				return nil, fmt.Errorf("%s: services: a service name must be a non-empty string, not %s", where, it[0])
			}
			var insts []starlark.Value
			switch x := it[1].(type) {
			case *starlark.Dict:
				insts = []starlark.Value{x}
			case *starlark.List:
				for i := 0; i < x.Len(); i++ {
					insts = append(insts, x.Index(i))
				}
			default:
				return nil, fakenet.WrongType(where, fmt.Sprintf("services[%q]", name), "an instance dict or a list of them", it[1])
			}
			for i, inst := range insts {
				at := fmt.Sprintf("%s: services[%q]", where, name)
				if len(insts) > 1 {
					at = fmt.Sprintf("%s: services[%q][%d]", where, name, i)
				}
				defID := name
				if len(insts) > 1 {
					defID = fmt.Sprintf("%s-%d", name, i+1)
				}
				if err := f.describe(at, name, defID, inst); err != nil {
					return nil, err
				}
			}
		}
	}
	if v, ok := args["kv"]; ok {
		d, ok := v.(*starlark.Dict)
		if !ok {
			return nil, fakenet.WrongType(where, "kv", "a dict of key to string value", v)
		}
		for _, it := range d.Items() {
			k, ok1 := starlark.AsString(it[0])
			val, ok2 := starlark.AsString(it[1])
			switch {
			case !ok1 || k == "":
				return nil, fmt.Errorf("%s: kv: a key must be a non-empty string, not %s", where, it[0])
			case !ok2:
				return nil, fakenet.WrongType(where, fmt.Sprintf("kv[%q]", k), "a string", it[1])
			}
			f.Put(k, []byte(val))
		}
	}
	return f, nil
}

func (f *Fake) describe(at, name, defID string, v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("%s: want an instance dict, not %s", at, v.Type())
	}
	get := map[string]starlark.Value{}
	for _, k := range instanceKeys {
		get[k] = starlark.None
	}
	for _, it := range d.Items() {
		k, _ := starlark.AsString(it[0])
		if _, known := get[k]; !known {
			return fakenet.UnknownKey(at, "field", k, instanceKeys)
		}
		get[k] = it[1]
	}
	if get["id"] == starlark.None {
		get["id"] = starlark.String(defID)
	}
	reg, err := consul.Registration(at, name, get["id"], get["address"], get["port"], get["tags"], get["meta"], get["check"])
	if err != nil {
		return err
	}
	f.mu.Lock()
	_, dup := f.services[reg.ID]
	f.mu.Unlock()
	if dup {
		return fmt.Errorf("%s: id %q is already described (an agent has one service per id)", at, reg.ID)
	}
	status := ""
	if sv := get["status"]; sv != starlark.None {
		s, ok := starlark.AsString(sv)
		if !ok || (s != api.HealthPassing && s != api.HealthWarning && s != api.HealthCritical) {
			return fmt.Errorf("%s: status: want \"passing\", \"warning\" or \"critical\", not %s", at, sv)
		}
		status = s
	}
	switch {
	case reg.Check != nil:
		reg.Check.Status = status
	case status != "" && status != api.HealthPassing:
		reg.Check = &api.AgentServiceCheck{TTL: "30s", Status: status}
	}
	if err := f.Register(reg); err != nil {
		return fmt.Errorf("%s: %w", at, err)
	}
	return nil
}

// Services lists the agent's service IDs, sorted.
func (f *Fake) Services() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.services))
	for id := range f.services {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// KV is the value of key, and whether it exists.
func (f *Fake) KV(key string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.kv[key]
	if !ok {
		return "", false
	}
	return string(e.Value), true
}
