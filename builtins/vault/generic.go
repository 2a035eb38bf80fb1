package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// write is vault.write(path, namespace=None, **data), as `vault write PATH k=v ...`.
//
// Plan and apply: the path is read first, and only the fields the read returns are
// compared, each after normalising (durations as seconds, "a,b" or "x" against a list,
// numbers). A field the read does not return at top level is looked for one level down
// (database/config/NAME returns connection_url and username inside
// connection_details). Fields the read does not return at all are write-only (a
// password, say): they are never compared, and the plan shows them as
// "(write-only, not compared)", so changing only a write-only field is not noticed.
// Nothing at the path -> create; a compared field differs -> update (every given field
// is sent, since many endpoints replace the whole object); all compared fields equal ->
// unchanged, no write. A path that cannot be read (405) is written on every run.
//
// Values of secret-bearing fields (password, token, secret_id, ...) and of secret
// values are registered with the redactor and shown as (sensitive).
//
// It returns the write's response data as a dict (secret fields as secrets), None if
// there is none or nothing was written, and an unknown in a plan.
//
// Its Delete (for destroy) deletes the path, as vault.delete does.
func (v *vault) write(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var path string
	if err := starlark.UnpackPositionalArgs(fn.Name(), args, nil, 1, &path); err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	fields, err := v.unpackFields(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	v.rememberAuthRole(ns, path, fields)
	var createDiff []runtime.DiffLine
	for _, f := range fields {
		createDiff = append(createDiff, runtime.DiffLine{Op: "+", Key: f.name, After: f.shown()})
	}
	return v.run.Converge(thread, runtime.Resource{
		Server:  v.server,
		Address: v.address(ns, "path", path),
		Read:    v.readPath(ns, path),
		Diff: func(live runtime.Live) runtime.Change {
			create := runtime.Change{Action: runtime.Create, Summary: runtime.Plural(len(fields), "field"), Diff: createDiff, Notes: unreadNotes(live)}
			switch data := live.Value.(type) {
			case unreadablePath:
				create.Action, create.Summary = runtime.Call, "path cannot be read; written on every run"
				return create
			case map[string]any:
				return diffFields(fields, data)
			}
			return create
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			c, err := v.api(ns)
			if err != nil {
				return nil, err
			}
			sec, err := c.Logical().WriteWithContext(ctx, path, payload(fields))
			v.wrotePath(ns, path) // even on error: it may have half-happened
			if err != nil {
				return nil, v.explain(err)
			}
			return v.secretValue(sec)
		},
		Delete: v.undoWrite(ns, path),
	})
}

// diffFields compares the fields vault.write gives with the data a read of the path
// returned: see write.
func diffFields(fields []field, data map[string]any) runtime.Change {
	var diff []runtime.DiffLine
	var writeOnly []string
	for _, f := range fields {
		have, found := lookupField(data, f.name)
		switch {
		case !found:
			writeOnly = append(writeOnly, f.name)
		case f.unknown:
			diff = append(diff, runtime.DiffLine{Op: "~", Key: f.name, Before: showLive(f, have), After: f.shown()})
		case !sameValue(f.value, have):
			diff = append(diff, runtime.DiffLine{Op: "~", Key: f.name, Before: showLive(f, have), After: f.shown()})
		}
	}
	if len(diff) == 0 {
		c := runtime.Change{Action: runtime.Unchanged, Summary: runtime.Plural(len(fields)-len(writeOnly), "field") + " compared"}
		if len(writeOnly) > 0 {
			c.Notes = []string{"write-only, not compared: " + strings.Join(writeOnly, ", ")}
		}
		return c
	}
	for _, name := range writeOnly {
		diff = append(diff, runtime.DiffLine{Op: "~", Key: name, Before: "(write-only, not compared)", After: fieldNamed(fields, name).shown()})
	}
	return runtime.Change{
		Action: runtime.Update, Summary: fmt.Sprintf("%s of %s", runtime.Plural(len(diff)-len(writeOnly), "change"), runtime.Plural(len(fields), "field")),
		Diff: diff,
	}
}

// unreadablePath is what readPath found at a path that answers 405 to a read: it can
// be written (or deleted), not compared.
type unreadablePath struct{}

// readPath reads path for write and delete to compare with: its data (nil if nothing
// is there), or unreadablePath, which is no failure. The fingerprint hashes the data.
func (v *vault) readPath(ns, path string) runtime.ReadFunc {
	return func(ctx context.Context) (any, runtime.Fingerprint, error) {
		c, err := v.api(ns)
		if err != nil {
			return nil, "", err
		}
		sec, err := c.Logical().ReadWithContext(ctx, path)
		switch {
		case statusCode(err) == 405:
			return unreadablePath{}, runtime.Fingerprint("unreadable"), nil
		case err != nil:
			return nil, "", v.explain(err)
		case sec == nil || sec.Data == nil:
			return nil, runtime.Absent, nil
		}
		return sec.Data, runtime.HashFingerprint(sec.Data), nil
	}
}

// deletePath deletes path: vault.delete's write, and what undoes vault.write.
func (v *vault) deletePath(ns, path string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		c, err := v.api(ns)
		if err != nil {
			return err
		}
		if err := revokeRoleLeases(ctx, c, path); err != nil {
			return v.explain(err)
		}
		_, err = c.Logical().DeleteWithContext(ctx, path)
		v.wrotePath(ns, path)
		return v.explain(err)
	}
}

// undoWrite is what undoes vault.write in a destroy: it deletes the path, except for a
// path Vault cannot delete on its own (405: an auth method's or engine's config, such
// as auth/jwt-nomad/config), which goes when its mount or auth method is disabled, later
// in the same destroy. (If that mount is kept, the config stays: Vault offers no way to
// remove it alone.)
func (v *vault) undoWrite(ns, path string) func(ctx context.Context) error {
	del := v.deletePath(ns, path)
	return func(ctx context.Context) error {
		if err := del(ctx); err != nil && statusCode(err) != 405 {
			return err
		}
		return nil
	}
}

// lookupField finds a field in read data: at top level, else inside a nested object
// (connection_details.connection_url).
func lookupField(data map[string]any, name string) (any, bool) {
	if v, ok := data[name]; ok {
		return v, true
	}
	for _, k := range runtime.SortedKeys(data) {
		if m, ok := data[k].(map[string]any); ok {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
	}
	return nil, false
}

func showLive(f field, have any) string {
	if f.sensitive {
		return runtime.Redacted
	}
	return showValue(have)
}

func fieldNamed(fields []field, name string) field {
	for _, f := range fields {
		if f.name == name {
			return f
		}
	}
	return field{name: name}
}

// read is vault.read(path, revoke=False, safe_in_plan=False, namespace=None), as
// `vault read PATH`.
//
//	-> dict of the data (secret-bearing fields as secrets) plus lease_id,
//	   lease_duration (seconds) and lease_renewable; None if nothing is at the path
//
// A read is recorded. In a plan it is not made, and its result is unknown: a read may
// generate credentials (database/creds/ROLE), which a plan must never do. A script that
// knows a path is a plain read (kv, config) may pass safe_in_plan=True to have it read in
// a live plan too. revoke=True revokes the read's lease when the run ends, whether it
// succeeded or not (runtime Run.Defer), so a credentials check leaves no DB user behind.
func (v *vault) read(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var path string
	revoke, safe := false, false
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path, "revoke?", &revoke, "safe_in_plan?", &safe); err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	q := runtime.Query{
		Server:  v.server,
		Address: v.address(ns, "read", path),
		Record:  true,
		Settle: func(ctx context.Context) (starlark.Value, error) {
			return v.readSecret(ctx, ns, path, revoke)
		},
	}
	if safe {
		// A plain read (kv, config): a live plan may make it too.
		q.Read = func(ctx context.Context) (runtime.Answer, error) {
			val, err := v.readSecret(ctx, ns, path, revoke)
			return runtime.Answer{Value: val, Fingerprint: runtime.HashFingerprint(map[string]string{"value": fmt.Sprint(val)})}, err
		}
	}
	if revoke {
		q.Summary = "lease revoked when the run ends"
	}
	return v.run.Query(thread, q)
}

// readSecret reads path for vault.read, and with revoke, revokes the lease when the
// run ends.
func (v *vault) readSecret(ctx context.Context, ns, path string, revoke bool) (starlark.Value, error) {
	c, err := v.api(ns)
	if err != nil {
		return nil, err
	}
	sec, err := c.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, v.explain(err)
	}
	if sec != nil && revoke && sec.LeaseID != "" {
		v.atEnd("revoke lease "+sec.LeaseID, func(ctx context.Context) error {
			return v.explain(c.Sys().RevokeWithContext(ctx, sec.LeaseID))
		})
	}
	return v.secretValue(sec)
}

// secretValue is a read's or write's answer as a dict, or None.
func (v *vault) secretValue(sec *api.Secret) (starlark.Value, error) {
	if sec == nil || (sec.Data == nil && sec.LeaseID == "") {
		return starlark.None, nil
	}
	d, err := v.dataValue("", sec.Data)
	if err != nil {
		return nil, err
	}
	dict, ok := d.(*starlark.Dict)
	if !ok {
		dict = starlark.NewDict(3)
	}
	for k, x := range map[string]starlark.Value{
		"lease_id":        starlark.String(sec.LeaseID),
		"lease_duration":  starlark.MakeInt(sec.LeaseDuration),
		"lease_renewable": starlark.Bool(sec.Renewable),
	} {
		if err := dict.SetKey(starlark.String(k), x); err != nil {
			return nil, err
		}
	}
	return dict, nil
}

// delete is vault.delete(path, namespace=None), as `vault delete PATH`: a delete when
// something is at the path (or the path cannot be read), unchanged when nothing is.
func (v *vault) delete(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	return v.run.Converge(thread, runtime.Resource{
		Server:  v.server,
		Address: v.address(ns, "path", path),
		Read:    v.readPath(ns, path),
		Diff: func(live runtime.Live) runtime.Change {
			switch live.Value.(type) {
			case unreadablePath:
				return runtime.Change{Action: runtime.Delete, Planned: starlark.None, Notes: []string{"path cannot be read; deleted on every run"}}
			case nil:
				if live.Known() {
					return runtime.Change{Action: runtime.Unchanged, Summary: "already absent"}
				}
			}
			return runtime.Change{Action: runtime.Delete, Planned: starlark.None, Notes: unreadNotes(live)}
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			return nil, v.deletePath(ns, path)(ctx)
		},
		// Delete is nil: what a delete removed cannot be brought back.
	})
}

// list is vault.list(path, namespace=None), as `vault list PATH`: the keys under path
// (an empty list if none). It only reads and records nothing; unknown offline or before
// login.
func (v *vault) list(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	return v.run.Query(thread, runtime.Query{
		Server:  v.server,
		Address: v.address(ns, "list", path),
		Read: func(ctx context.Context) (runtime.Answer, error) {
			c, err := v.api(ns)
			if err != nil {
				return runtime.Answer{}, err
			}
			sec, err := c.Logical().ListWithContext(ctx, path)
			if err != nil {
				return runtime.Answer{}, v.explain(err)
			}
			var keys []string
			if sec != nil {
				if l, ok := sec.Data["keys"].([]any); ok {
					for _, k := range l {
						keys = append(keys, fmt.Sprint(k))
					}
				}
			}
			return runtime.Answer{Value: stringListValue(keys), Fingerprint: runtime.HashFingerprint(keys)}, nil
		},
	})
}
