package vault

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// mount is vault.mount(path, type, description=None, options=None,
// default_lease_ttl=None, max_lease_ttl=None, local=False, seal_wrap=False,
// namespace=None), as `vault secrets enable -path=PATH TYPE`. "kv-v2" is type "kv" with
// options {"version": "2"}, as Vault stores it.
//
// Plan and apply (sys/mounts, one read for all mounts):
//   - not mounted -> create (sys/mounts/PATH);
//   - mounted with another type -> an error naming both types: nvrun never unmounts,
//     which would destroy the engine's data;
//   - same type -> only what the script gives is compared (description, the given
//     options, the lease TTLs); a difference is an update through sys/mounts/PATH/tune,
//     equal is unchanged. local and seal_wrap can only be set when mounting: a
//     difference is a note, not a change.
//
// Its Delete (for destroy) unmounts the engine, and vault.auth's disables the method:
// both destroy what they hold.
func (v *vault) mount(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	spec, err := unpackMountSpec(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return v.ensureMount(thread, spec, mountKind{
		what: "secrets engine", addrKind: "mount",
		list: func(ctx context.Context, c *api.Client) (map[string]*api.MountOutput, error) {
			return c.Sys().ListMountsWithContext(ctx)
		},
		enable: func(ctx context.Context, c *api.Client, path string, in *api.MountInput) error {
			return c.Sys().MountWithContext(ctx, path, in)
		},
		disable: func(ctx context.Context, c *api.Client, path string) error {
			return c.Sys().UnmountWithContext(ctx, path)
		},
		tunePath: func(path string) string { return path },
	})
}

// mountSpec is what the script asks of a secrets engine or auth method mount.
type mountSpec struct {
	ns, path, typ   string
	description     *string
	options         map[string]string
	defaultLeaseTTL *int64
	maxLeaseTTL     *int64
	local, sealWrap bool
}

func unpackMountSpec(fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (*mountSpec, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var path, typ string
	var desc, opts, defTTL, maxTTL starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
	s := &mountSpec{ns: ns}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path, "type", &typ, "description?", &desc,
		"options?", &opts, "default_lease_ttl?", &defTTL, "max_lease_ttl?", &maxTTL,
		"local?", &s.local, "seal_wrap?", &s.sealWrap); err != nil {
		return nil, err
	}
	s.path, s.typ = strings.Trim(path, "/"), typ
	if s.path == "" || s.typ == "" {
		return nil, fmt.Errorf("%s: path and type must not be empty", fn.Name())
	}
	if desc != starlark.None {
		d, ok := starlark.AsString(desc)
		if !ok {
			return nil, fmt.Errorf("%s: description: want a string", fn.Name())
		}
		s.description = &d
	}
	if opts != starlark.None {
		d, ok := opts.(*starlark.Dict)
		if !ok {
			return nil, fmt.Errorf("%s: options: want a dict of strings", fn.Name())
		}
		s.options = map[string]string{}
		for _, it := range d.Items() {
			k, ok1 := starlark.AsString(it[0])
			var val string
			switch x := it[1].(type) {
			case starlark.String:
				val = string(x)
			case starlark.Int:
				val = x.String()
			default:
				ok1 = false
			}
			if !ok1 {
				return nil, fmt.Errorf("%s: options: want a dict of strings", fn.Name())
			}
			s.options[k] = val
		}
	}
	if s.typ == "kv-v2" {
		s.typ = "kv"
		if s.options == nil {
			s.options = map[string]string{}
		}
		s.options["version"] = "2"
	}
	for _, d := range []struct {
		name string
		v    starlark.Value
		dst  **int64
	}{{"default_lease_ttl", defTTL, &s.defaultLeaseTTL}, {"max_lease_ttl", maxTTL, &s.maxLeaseTTL}} {
		if d.v == starlark.None {
			continue
		}
		var dur runtime.DurationArg
		if err := runtime.UnpackArg(fn.Name(), d.name, d.v, &dur); err != nil {
			return nil, err
		}
		secs := int64(dur.D() / time.Second)
		*d.dst = &secs
	}
	return s, nil
}

// mountKind is what differs between secrets engines (sys/mounts) and auth methods
// (sys/auth): everything else about declaring a mount is the same.
type mountKind struct {
	what, addrKind string
	list           func(context.Context, *api.Client) (map[string]*api.MountOutput, error)
	enable         func(context.Context, *api.Client, string, *api.MountInput) error
	disable        func(context.Context, *api.Client, string) error // for destroy
	tunePath       func(path string) string                         // the path sys/mounts/<path>/tune takes
	// described says the builtin returns struct(path, type, accessor) rather than
	// None: vault.auth does, because templated policies name an auth method by its
	// accessor. (vault.mount keeps returning None: its plans count no unknowns.)
	described bool
}

// mountValue is what vault.auth returns: the accessor is what templated policies
// (identity.entity.aliases.<accessor>...) need.
func mountValue(path, typ, accessor string) starlark.Value {
	return runtime.Struct(starlark.StringDict{
		"path": starlark.String(path), "type": starlark.String(typ), "accessor": starlark.String(accessor),
	})
}

func (v *vault) ensureMount(thread *starlark.Thread, s *mountSpec, k mountKind) (starlark.Value, error) {
	addr := v.address(s.ns, k.addrKind, s.path)
	in := &api.MountInput{Type: s.typ, Local: s.local, SealWrap: s.sealWrap, Options: s.options}
	if s.description != nil {
		in.Description = *s.description
	}
	if s.defaultLeaseTTL != nil {
		in.Config.DefaultLeaseTTL = fmt.Sprintf("%ds", *s.defaultLeaseTTL)
	}
	if s.maxLeaseTTL != nil {
		in.Config.MaxLeaseTTL = fmt.Sprintf("%ds", *s.maxLeaseTTL)
	}
	diff := []runtime.DiffLine{{Op: "+", Key: "type", After: showValue(s.typ)}}
	if s.description != nil {
		diff = append(diff, runtime.DiffLine{Op: "+", Key: "description", After: showValue(*s.description)})
	}
	for _, o := range runtime.SortedKeys(s.options) {
		diff = append(diff, runtime.DiffLine{Op: "+", Key: "options." + o, After: showValue(s.options[o])})
	}
	var created starlark.Value = starlark.None
	var async starlark.Value = starlark.None // vault.mount returns None: its read may run ahead
	if k.described {
		created = nil // path and type are known, but not the accessor: the whole value is unknown
		async = nil   // vault.auth's value holds the accessor read: read in order
	}
	return v.run.Converge(thread, runtime.Resource{
		Server:      v.server,
		Address:     addr,
		AsyncResult: async,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			c, err := v.api(s.ns)
			if err != nil {
				return nil, "", err
			}
			mounts, err := k.list(ctx, c)
			if err != nil {
				return nil, "", v.explain(err)
			}
			have, ok := mounts[s.path+"/"]
			if !ok {
				return nil, runtime.Absent, nil
			}
			if have.Type != s.typ {
				return nil, "", &explained{fmt.Errorf("%s %s/ on Vault at %s already has type %q, not %q; nvrun does not remount "+
					"(it would destroy its data): choose another path, or disable it yourself", k.what, s.path, v.addr, have.Type, s.typ), nil}
			}
			return have, runtime.HashFingerprint(have), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			have, _ := live.Value.(*api.MountOutput)
			if have == nil {
				return runtime.Change{Action: runtime.Create, Summary: s.typ + " " + k.what, Diff: diff, Planned: created, Notes: unreadNotes(live)}
			}
			changes, notes, _ := s.tune(have, in)
			var result starlark.Value = starlark.None
			if k.described {
				result = mountValue(s.path, s.typ, have.Accessor)
			}
			if len(changes) == 0 {
				return runtime.Change{Action: runtime.Unchanged, Summary: s.typ + " " + k.what, Notes: notes, Planned: result}
			}
			return runtime.Change{Action: runtime.Update, Summary: "tune " + runtime.Plural(len(changes), "setting"), Diff: changes, Notes: notes,
				Planned: result} // tuning keeps the accessor
		},
		Write: func(ctx context.Context, live runtime.Live) (starlark.Value, error) {
			c, err := v.api(s.ns)
			if err != nil {
				return nil, err
			}
			if have, ok := live.Value.(*api.MountOutput); ok {
				_, _, tune := s.tune(have, in)
				if err := c.Sys().TuneMountWithContext(ctx, k.tunePath(s.path), tune); err != nil {
					return nil, v.explain(err)
				}
				if !k.described {
					return nil, nil
				}
				return mountValue(s.path, s.typ, have.Accessor), nil
			}
			if err := k.enable(ctx, c, s.path, in); err != nil {
				return nil, v.explain(err)
			}
			if !k.described {
				return nil, nil
			}
			// Vault assigns the accessor when enabling; the enable call does not return it.
			mounts, err := k.list(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("%s %s/ was enabled, but reading its accessor failed: %w", k.what, s.path, v.explain(err))
			}
			have, ok := mounts[s.path+"/"]
			if !ok {
				return nil, fmt.Errorf("%s %s/ was enabled, but Vault does not list it", k.what, s.path)
			}
			return mountValue(s.path, s.typ, have.Accessor), nil
		},
		Delete: func(ctx context.Context) error {
			c, err := v.api(s.ns)
			if err != nil {
				return err
			}
			return v.explain(k.disable(ctx, c, s.path))
		},
	})
}

// tune compares what the script gives with the mount Vault has: the diff, notes on what
// only mounting can set, and the tune request that makes the difference.
func (s *mountSpec) tune(have *api.MountOutput, in *api.MountInput) (changes []runtime.DiffLine, notes []string, tune api.MountConfigInput) {
	if s.description != nil && *s.description != have.Description {
		changes = append(changes, runtime.DiffLine{Op: "~", Key: "description", Before: showValue(have.Description), After: showValue(*s.description)})
		tune.Description = s.description
	}
	for _, o := range runtime.SortedKeys(s.options) {
		if have.Options[o] != s.options[o] {
			changes = append(changes, runtime.DiffLine{Op: "~", Key: "options." + o, Before: showValue(have.Options[o]), After: showValue(s.options[o])})
			if tune.Options == nil {
				tune.Options = map[string]string{}
			}
			tune.Options[o] = s.options[o]
		}
	}
	if s.defaultLeaseTTL != nil && int64(have.Config.DefaultLeaseTTL) != *s.defaultLeaseTTL {
		changes = append(changes, runtime.DiffLine{Op: "~", Key: "default_lease_ttl",
			Before: showSeconds(int64(have.Config.DefaultLeaseTTL)), After: showSeconds(*s.defaultLeaseTTL)})
		tune.DefaultLeaseTTL = in.Config.DefaultLeaseTTL
	}
	if s.maxLeaseTTL != nil && int64(have.Config.MaxLeaseTTL) != *s.maxLeaseTTL {
		changes = append(changes, runtime.DiffLine{Op: "~", Key: "max_lease_ttl",
			Before: showSeconds(int64(have.Config.MaxLeaseTTL)), After: showSeconds(*s.maxLeaseTTL)})
		tune.MaxLeaseTTL = in.Config.MaxLeaseTTL
	}
	if have.Local != s.local {
		notes = append(notes, fmt.Sprintf("local is %v on Vault and can only be set when mounting", have.Local))
	}
	if have.SealWrap != s.sealWrap {
		notes = append(notes, fmt.Sprintf("seal_wrap is %v on Vault and can only be set when mounting", have.SealWrap))
	}
	return changes, notes, tune
}
