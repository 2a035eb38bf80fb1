package consul

import (
	"errors"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"
)

// Registration is the agent registration that consul.register(name, id=, address=,
// port=, tags=, meta=, check=) sends, for `nvrun test`'s Consul fake
// (builtins/consul/consulfake): a described service is registered exactly as a script
// registers it, so a script that registers the same service plans it unchanged. where
// names the caller in errors. None is "not given", as in consul.register.
func Registration(where, name string, idV, addrV, portV, tagsV, metaV, checkV starlark.Value) (*api.AgentServiceRegistration, error) {
	s, unknown, err := parseService(where, name, idV, addrV, portV, tagsV, metaV, checkV)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		return nil, errors.New(where + ": a described service holds a value known only after apply")
	}
	reg := &api.AgentServiceRegistration{ID: s.id, Name: s.name, Address: s.address, Port: s.port, Tags: s.tags, Meta: s.meta}
	if s.checkDef != nil {
		reg.Check = s.checkDef.registration(s.id)
	}
	return reg, nil
}
