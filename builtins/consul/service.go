package consul

import (
	"context"
	"sort"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// service(name, tag=None, passing=True) returns the instances of a service from the
// health API: a list of struct(address, port, tags, meta, node, id), passing ones only
// unless passing=False.
//
// It is a plain read, not a recorded one: it changes nothing and the plan has nothing to
// say about it. Offline (or with the agent unreachable in a plan) it is an Unknown. An
// empty list is a real answer ("nothing registered yet"); a script that needs an
// instance that an earlier step deploys should use consul.wait or consul.srv, which
// know about the plan/apply difference.
func (c *consul) service(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name runtime.StringArg
	var tag runtime.OptStringArg
	passing := true
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "tag?", &tag, "passing?", &passing); err != nil {
		return nil, err
	}
	return c.run.Query(thread, runtime.Query{
		Server:  c.server,
		Address: "consul service " + name.Shown(),
		Unknown: firstUnknown(name, tag.StringArg),
		Read: func(ctx context.Context) (runtime.Answer, error) {
			client, err := c.api()
			if err != nil {
				return runtime.Answer{}, err
			}
			entries, meta, err := client.Health().Service(name.Value, tag.Value, passing, (&api.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return runtime.Answer{}, c.wrap(err)
			}
			return runtime.Answer{Value: instanceList(entries), Fingerprint: runtime.IndexFingerprint(meta.LastIndex)}, nil
		},
	})
}

// firstUnknown is the text of the first argument known only after apply, or "".
func firstUnknown(args ...runtime.StringArg) string {
	for _, a := range args {
		if a.IsUnknown() {
			return a.UnknownText()
		}
	}
	return ""
}

// instanceList converts health entries to Starlark, in a stable order (node, then id).
func instanceList(entries []*api.ServiceEntry) *starlark.List {
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.Node.Node != b.Node.Node {
			return a.Node.Node < b.Node.Node
		}
		return a.Service.ID < b.Service.ID
	})
	out := make([]starlark.Value, 0, len(entries))
	for _, e := range entries {
		out = append(out, instance(e))
	}
	return starlark.NewList(out)
}

func instance(e *api.ServiceEntry) starlark.Value {
	// A service registered without an address is reached at its node's, as Consul's own
	// DNS answers it.
	addr := e.Service.Address
	if addr == "" {
		addr = e.Node.Address
	}
	tags := make([]starlark.Value, len(e.Service.Tags))
	for i, t := range e.Service.Tags {
		tags[i] = starlark.String(t)
	}
	meta := starlark.NewDict(len(e.Service.Meta))
	for _, k := range runtime.SortedKeys(e.Service.Meta) {
		_ = meta.SetKey(starlark.String(k), starlark.String(e.Service.Meta[k]))
	}
	return runtime.Struct(starlark.StringDict{
		"address": starlark.String(addr),
		"port":    starlark.MakeInt(e.Service.Port),
		"tags":    starlark.NewList(tags),
		"meta":    meta,
		"node":    starlark.String(e.Node.Node),
		"id":      starlark.String(e.Service.ID),
	})
}
