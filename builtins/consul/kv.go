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
// value shows as (sensitive) in the diff, and so does the old value it replaces. The
// read's fingerprint is the entry's ModifyIndex.
func (c *consul) kvPut(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var raw starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "value", &raw); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s: key must not be empty", fn.Name())
	}
	var value runtime.SecretArg
	if value.Unpack(raw) != nil {
		return nil, fmt.Errorf("%s: value must be a string or a secret, not %s", fn.Name(), raw.Type())
	}
	return c.run.Converge(thread, runtime.Resource{
		Server:  c.server,
		Address: fmt.Sprintf("consul kv %q", key),
		// A plan returns None whatever the read finds, and the read uses only the run's
		// client (made once, under a lock): it may run ahead.
		AsyncResult: starlark.None,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			pair, err := c.kvRead(ctx, key)
			if pair == nil || err != nil {
				return nil, "", err // an untyped nil: "absent"
			}
			return pair, runtime.IndexFingerprint(pair.ModifyIndex), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			after := value.Shown()
			if !value.IsUnknown() {
				after = shownValue(value.Value, value.Sensitive)
			}
			pair, _ := live.Value.(*api.KVPair)
			switch {
			case pair == nil:
				return runtime.Change{Action: runtime.Create, Planned: starlark.None,
					Diff: []runtime.DiffLine{{Op: "+", Key: "value", After: after}}}
			case !value.IsUnknown() && string(pair.Value) == value.Value:
				return runtime.Change{Action: runtime.Unchanged}
			}
			before := shownValue(string(pair.Value), value.Sensitive || value.IsUnknown())
			return runtime.Change{Action: runtime.Update, Planned: starlark.None,
				Diff: []runtime.DiffLine{{Op: "~", Key: "value", Before: before, After: after}}}
		},
		Write: func(ctx context.Context, live runtime.Live) (starlark.Value, error) {
			var index uint64 // CAS index 0 means "only if the key does not exist yet"
			if pair, ok := live.Value.(*api.KVPair); ok {
				index = pair.ModifyIndex
			}
			client, err := c.api()
			if err != nil {
				return nil, err
			}
			ok, _, err := client.KV().CAS(&api.KVPair{Key: key, Value: []byte(value.Value), ModifyIndex: index}, (&api.WriteOptions{}).WithContext(ctx))
			if err != nil {
				return nil, c.wrap(err)
			}
			if !ok {
				return nil, fmt.Errorf("consul kv %q changed while nvrun was writing it (check-and-set failed); run again to see the new diff", key)
			}
			return starlark.None, nil
		},
		Delete: func(ctx context.Context) error {
			client, err := c.api()
			if err != nil {
				return err
			}
			_, err = client.KV().Delete(key, (&api.WriteOptions{}).WithContext(ctx))
			return c.wrap(err)
		},
	})
}

// kv_get(key, sensitive=False) reads a KV entry: a string, None if there is no such key,
// or a secret with sensitive=True. Offline (or with the agent unreachable in a plan) it
// is an Unknown. A plain read: nothing is recorded.
func (c *consul) kvGet(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key runtime.StringArg
	sensitive := false
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "sensitive?", &sensitive); err != nil {
		return nil, err
	}
	return c.run.Query(thread, runtime.Query{
		Server:  c.server,
		Address: "consul kv " + key.Shown(),
		Unknown: key.UnknownText(),
		Read: func(ctx context.Context) (runtime.Answer, error) {
			pair, err := c.kvRead(ctx, key.Value)
			switch {
			case err != nil:
				return runtime.Answer{}, err
			case pair == nil:
				return runtime.Answer{Value: starlark.None, Fingerprint: runtime.Absent}, nil
			case sensitive:
				return runtime.Answer{Value: c.run.Secret(string(pair.Value)), Fingerprint: runtime.IndexFingerprint(pair.ModifyIndex)}, nil
			}
			return runtime.Answer{Value: starlark.String(pair.Value), Fingerprint: runtime.IndexFingerprint(pair.ModifyIndex)}, nil
		},
	})
}

func (c *consul) kvRead(ctx context.Context, key string) (*api.KVPair, error) {
	client, err := c.api()
	if err != nil {
		return nil, err
	}
	pair, _, err := client.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
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
