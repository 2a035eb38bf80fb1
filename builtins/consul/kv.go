package consul

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// kv_put(key, value) makes the KV entry `key` hold value (a string or a secret).
//
// It is declarative: an entry that already holds the value is Unchanged and nothing is
// written. Otherwise apply writes with check-and-set against the index it read, so a
// concurrent writer makes it fail loudly rather than be overwritten unseen. A secret
// value shows as (sensitive) in the diff, and so does the old value it replaces.
func (c *consul) kvPut(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var value starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s: key must not be empty", fn.Name())
	}
	var val, after string
	var sensitive bool
	unknown := runtime.IsUnknown(value)
	if unknown {
		after = value.String()
	} else {
		var ok bool
		if val, sensitive, ok = runtime.StringOrSecret(value); !ok {
			return nil, fmt.Errorf("%s: value must be a string or a secret, not %s", fn.Name(), value.Type())
		}
		after = shownValue(val, sensitive)
	}
	change := runtime.Change{Address: fmt.Sprintf("consul kv %q", key), Action: runtime.Create, Planned: starlark.None}

	var live *api.KVPair
	if !c.offline() {
		var err error
		if live, err = c.kvRead(key); err != nil {
			if err := c.readFailed(err); err != nil {
				return nil, err
			}
		}
	}
	var index uint64 // CAS index 0 means "only if the key does not exist yet"
	if live != nil {
		if !unknown && string(live.Value) == val {
			return c.run.Effect(thread, runtime.Change{Address: change.Address, Action: runtime.Unchanged})
		}
		change.Action, index = runtime.Update, live.ModifyIndex
		change.Diff = []runtime.DiffLine{{Op: "~", Key: "value", Before: shownValue(string(live.Value), sensitive || unknown), After: after}}
	} else {
		change.Diff = []runtime.DiffLine{{Op: "+", Key: "value", After: after}}
	}
	change.Apply = func(ctx context.Context) (starlark.Value, error) {
		client, err := c.api()
		if err != nil {
			return nil, err
		}
		ok, _, err := client.KV().CAS(&api.KVPair{Key: key, Value: []byte(val), ModifyIndex: index}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return nil, c.wrap(err)
		}
		if !ok {
			return nil, fmt.Errorf("consul kv %q changed while nvrun was writing it (check-and-set failed); run again to see the new diff", key)
		}
		return starlark.None, nil
	}
	return c.run.Effect(thread, change)
}

// kv_get(key, sensitive=False) reads a KV entry: a string, None if there is no such key,
// or a secret with sensitive=True. Offline (or with the agent unreachable in a plan) it
// is an Unknown. A plain read: nothing is recorded.
func (c *consul) kvGet(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var keyV starlark.Value
	sensitive := false
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &keyV, "sensitive?", &sensitive); err != nil {
		return nil, err
	}
	key, keyUnknown, err := stringArg(fn.Name(), "key", keyV)
	if err != nil {
		return nil, err
	}
	if keyUnknown || c.offline() {
		return c.run.Unknown(thread), nil
	}
	pair, err := c.kvRead(key)
	if err != nil {
		if err := c.readFailed(err); err != nil {
			return nil, err
		}
		return c.run.Unknown(thread), nil
	}
	if pair == nil {
		return starlark.None, nil
	}
	if sensitive {
		return c.run.Secret(string(pair.Value)), nil
	}
	return starlark.String(pair.Value), nil
}

func (c *consul) kvRead(key string) (*api.KVPair, error) {
	client, err := c.api()
	if err != nil {
		return nil, err
	}
	pair, _, err := client.KV().Get(key, (&api.QueryOptions{}).WithContext(c.run.Context()))
	return pair, c.wrap(err)
}

// shownValue is how a value appears in a diff: quoted and shortened, or (sensitive).
func shownValue(v string, sensitive bool) string {
	if sensitive {
		return runtime.Redacted
	}
	const max = 80
	if r := []rune(v); len(r) > max {
		return fmt.Sprintf("%q… (%d bytes)", string(r[:max]), len(v))
	}
	return fmt.Sprintf("%q", v)
}
