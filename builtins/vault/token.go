package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// defaultReuseMargin is how much life a token in use must have left to be reused when
// the script gives neither period nor ttl.
const defaultReuseMargin = 10 * time.Minute

// tokenCreate is vault.token(policies, period=None, orphan=False, ttl=None,
// renewable=True, display_name=None, reuse=None, namespace=None), as
// `vault token create -policy=... -period=72h -orphan`.
//
//	-> struct(token=secret, accessor, policies, ttl)   (ttl in seconds)
//
// A token has no name to compare by, so minting one is a create every time, and its
// values are unknown in a plan. What makes it idempotent is reuse: the token the script
// found in use (say in the Nomad agent's config). It is looked up (auth/token/lookup)
// and kept, unchanged and nothing minted, when it is valid, has exactly the requested
// policies (ignoring "default"), is an orphan if orphan=True, is renewable as asked,
// has the requested period, and has at least half the period (or ttl; else 10 minutes)
// left to live. Otherwise a
// new token is minted, and the plan's note says why. An unknown reuse in a plan is
// planned as a create that apply may skip.
//
// Every minted token carries metadata naming its address (nvrun=1, nvrun_address) and a
// display name starting nvrun-. When the script names the token in use (reuse=, even
// None), a mint first revokes, by accessor, the valid tokens minted for the same address
// that are neither in use nor this run's: strays of a run interrupted between minting a
// token and handing it on (token_stray.go). The plan shows them as deletes.
//
// Orphans are minted through auth/token/create-orphan, which needs no sudo (unlike
// create with no_parent), and do not die with the token that made them.
//
// Its Delete (for destroy) revokes the token it minted or kept, by accessor.
func (v *vault) tokenCreate(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var policiesArg starlark.Value
	var period, ttl, displayName, reuse starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
	orphan, renewable := false, true
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "policies", &policiesArg, "period?", &period, "orphan?", &orphan,
		"ttl?", &ttl, "renewable?", &renewable, "display_name?", &displayName, "reuse?", &reuse); err != nil {
		return nil, err
	}
	policies, err := runtime.StringList(policiesArg)
	if err != nil {
		if s, ok := starlark.AsString(policiesArg); ok {
			policies = splitComma(s)
		} else {
			return nil, fmt.Errorf("%s: policies: %w", fn.Name(), err)
		}
	}
	req := &api.TokenCreateRequest{Policies: policies, Renewable: &renewable}
	var periodSecs, ttlSecs int64
	for _, d := range []struct {
		name string
		v    starlark.Value
		secs *int64
		dst  *string
	}{{"period", period, &periodSecs, &req.Period}, {"ttl", ttl, &ttlSecs, &req.TTL}} {
		if d.v == starlark.None {
			continue
		}
		var dur runtime.DurationArg
		if err := runtime.UnpackArg(fn.Name(), d.name, d.v, &dur); err != nil {
			return nil, err
		}
		*d.secs = int64(dur.D() / time.Second)
		*d.dst = fmt.Sprintf("%ds", *d.secs)
	}
	if displayName != starlark.None {
		s, ok := starlark.AsString(displayName)
		if !ok {
			return nil, fmt.Errorf("%s: display_name: want a string", fn.Name())
		}
		req.DisplayName = s
	}
	label := req.DisplayName
	if label == "" {
		label = strings.Join(policies, ",")
	}
	addr := v.address(ns, "token", label)
	mintMeta(req, addr, label)

	diff := []runtime.DiffLine{{Op: "+", Key: "policies", After: showValue(policies)}}
	if periodSecs > 0 {
		diff = append(diff, runtime.DiffLine{Op: "+", Key: "period", After: showSeconds(periodSecs)})
	}
	if ttlSecs > 0 {
		diff = append(diff, runtime.DiffLine{Op: "+", Key: "ttl", After: showSeconds(ttlSecs)})
	}
	if orphan {
		diff = append(diff, runtime.DiffLine{Op: "+", Key: "orphan", After: "true"})
	}
	var minted string // the accessor of the token this call minted or kept: what Delete revokes
	res := runtime.Resource{
		Server:  v.server,
		Address: addr,
		Diff: func(runtime.Live) runtime.Change {
			return runtime.Change{Action: runtime.Create, Summary: "new token", Diff: diff}
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			val, accessor, err := v.mintToken(ctx, ns, req, orphan)
			minted = accessor
			return val, err
		},
		Delete: func(ctx context.Context) error {
			if minted == "" {
				return fmt.Errorf("%s: no token was minted or kept", addr)
			}
			c, err := v.api(ns)
			if err != nil {
				return err
			}
			return v.revokeStray(ctx, c, minted)
		},
	}
	// withNotes is the mint with notes, and with why the token in use was not read.
	withNotes := func(notes ...string) runtime.Resource {
		r := res
		r.Diff = func(live runtime.Live) runtime.Change {
			c := res.Diff(live)
			c.Notes = notes
			if r.Read != nil {
				c.Notes = append(notes, unreadNotes(live)...)
			}
			return c
		}
		return r
	}

	if !reuseGiven(args, kwargs) {
		// No token in use to tell the others by: each run hands its new token on, so
		// the tokens earlier runs minted for this address are not strays.
		return v.run.Converge(thread, res)
	}
	var current runtime.SecretArg
	if reuse != starlark.None {
		if err := runtime.UnpackArg(fn.Name(), "reuse", reuse, &current); err != nil {
			return nil, err
		}
	}
	if current.IsUnknown() {
		return v.run.Converge(thread, withNotes("the token in use is known only at apply, which mints a new one only if it cannot be reused"))
	}
	// The script names the token in use (None or "": none is), so any other valid token
	// minted for this address is a stray of an interrupted run: revoked before the mint.
	if current.Value == "" {
		if err := v.sweepStrays(thread, ns, addr, ""); err != nil {
			return nil, err
		}
		return v.run.Converge(thread, res)
	}
	v.run.Secret(current.Value)

	// Look the token in use up: kept if it can stand for the one asked for.
	var found *tokenInUse
	if _, err := v.run.Query(thread, runtime.Query{
		Server:  v.server,
		Address: addr,
		Read: func(ctx context.Context) (runtime.Answer, error) {
			t, err := v.lookupInUse(ctx, ns, current.Value, policies, orphan, renewable, periodSecs, ttlSecs)
			if err != nil {
				return runtime.Answer{}, err
			}
			found = t
			return runtime.Answer{Value: starlark.None, Fingerprint: t.fingerprint}, nil
		},
	}); err != nil {
		return nil, err
	}
	if found == nil {
		// Not read: offline, unreachable, or not logged in until apply. The mint's Read
		// is not called either; it gives the plan's note the reason.
		res.Read = func(ctx context.Context) (any, runtime.Fingerprint, error) {
			t, err := v.lookupInUse(ctx, ns, current.Value, policies, orphan, renewable, periodSecs, ttlSecs)
			if err != nil {
				return nil, "", err
			}
			return t, t.fingerprint, nil
		}
		return v.run.Converge(thread, withNotes("apply reuses the token in use if it is still valid"))
	}
	if found.why != "" {
		if err := v.sweepStrays(thread, ns, addr, found.accessor); err != nil {
			return nil, err
		}
		return v.run.Converge(thread, withNotes("the token in use is not reused: "+found.why))
	}
	v.keep(found.accessor)
	minted = found.accessor
	res.Read = func(context.Context) (any, runtime.Fingerprint, error) { return found, found.fingerprint, nil }
	res.Diff = func(runtime.Live) runtime.Change {
		return runtime.Change{
			Action: runtime.Unchanged, Summary: "token in use reused (" + showSeconds(found.ttl) + " left)",
			Planned: runtime.Struct(starlark.StringDict{
				"token":    v.run.Secret(current.Value),
				"accessor": starlark.String(found.accessor),
				"policies": stringListValue(found.policies),
				"ttl":      starlark.MakeInt64(found.ttl),
			}),
		}
	}
	return v.run.Converge(thread, res)
}

// tokenInUse is what a lookup of the token in use found.
type tokenInUse struct {
	why         string // why it cannot be reused; "" if it can
	accessor    string
	policies    []string
	ttl         int64 // seconds left
	fingerprint runtime.Fingerprint
}

// lookupInUse looks the token in use up (auth/token/lookup) and says whether it can
// stand for the one requested. A token Vault does not know is no error: it is not reused.
func (v *vault) lookupInUse(ctx context.Context, ns, token string, policies []string, orphan, renewable bool, periodSecs, ttlSecs int64) (*tokenInUse, error) {
	c, err := v.api(ns)
	if err != nil {
		return nil, err
	}
	sec, err := c.Auth().Token().LookupWithContext(ctx, token)
	switch {
	case badToken(err):
		return &tokenInUse{why: "it is not valid (" + responseText(err) + ")", fingerprint: runtime.Absent}, nil
	case err != nil:
		return nil, v.explain(err)
	}
	t := &tokenInUse{why: reusable(sec, policies, orphan, renewable, periodSecs, ttlSecs), fingerprint: runtime.Absent}
	if sec != nil && sec.Data != nil {
		t.accessor, _ = sec.Data["accessor"].(string)
		t.policies = tokenPolicies(sec)
		t.ttl, _ = jsonInt(sec.Data["ttl"])
		// What identifies the token's state; not the token, nor its ttl, which ticks.
		t.fingerprint = runtime.HashFingerprint(map[string]any{"accessor": t.accessor, "policies": t.policies,
			"orphan": sec.Data["orphan"], "renewable": sec.Data["renewable"], "period": fmt.Sprint(sec.Data["period"])})
	}
	return t, nil
}

// mintToken creates the token; orphans through create-orphan.
func (v *vault) mintToken(ctx context.Context, ns string, req *api.TokenCreateRequest, orphan bool) (_ starlark.Value, accessor string, err error) {
	c, err := v.api(ns)
	if err != nil {
		return nil, "", err
	}
	var sec *api.Secret
	if orphan {
		sec, err = c.Auth().Token().CreateOrphanWithContext(ctx, req)
	} else {
		sec, err = c.Auth().Token().CreateWithContext(ctx, req)
	}
	if err != nil {
		return nil, "", v.explain(err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, "", fmt.Errorf("Vault at %s returned no token", v.addr)
	}
	v.keep(sec.Auth.Accessor)
	return runtime.Struct(starlark.StringDict{
		"token":    v.run.Secret(sec.Auth.ClientToken),
		"accessor": starlark.String(sec.Auth.Accessor),
		"policies": stringListValue(sec.Auth.Policies),
		"ttl":      starlark.MakeInt(sec.Auth.LeaseDuration),
	}), sec.Auth.Accessor, nil
}

// reusable says why a looked-up token cannot stand for the one requested ("" if it can).
func reusable(sec *api.Secret, policies []string, orphan, renewable bool, periodSecs, ttlSecs int64) string {
	if sec == nil || sec.Data == nil {
		return "Vault returned no data for it"
	}
	have, want := withoutDefault(tokenPolicies(sec)), withoutDefault(policies)
	if !equalStrings(have, want) {
		return fmt.Sprintf("its policies are %s, not %s", showValue(have), showValue(want))
	}
	if orphan {
		if o, _ := sec.Data["orphan"].(bool); !o {
			return "it is not an orphan"
		}
	}
	if r, _ := sec.Data["renewable"].(bool); r != renewable {
		return fmt.Sprintf("its renewable is %v, not %v", r, renewable)
	}
	if periodSecs > 0 {
		if p, _ := jsonInt(sec.Data["period"]); p != periodSecs {
			return fmt.Sprintf("its period is %s, not %s", showSeconds(p), showSeconds(periodSecs))
		}
	}
	margin := int64(defaultReuseMargin / time.Second)
	switch {
	case periodSecs > 0:
		margin = periodSecs / 2
	case ttlSecs > 0:
		margin = ttlSecs / 2
	}
	// A ttl of 0 is a token that never expires (root-like).
	if left, _ := jsonInt(sec.Data["ttl"]); left != 0 && left < margin {
		return fmt.Sprintf("it expires in %s (less than %s)", showSeconds(left), showSeconds(margin))
	}
	return ""
}

// badToken says whether a lookup failed because the token is not valid (expired,
// revoked, malformed), rather than because we may not look it up.
func badToken(err error) bool {
	code, text := statusCode(err), responseText(err)
	return (code == 400 || code == 403 || code == 404) && (strings.Contains(text, "bad token") || strings.Contains(text, "invalid token"))
}

func tokenPolicies(sec *api.Secret) []string {
	var out []string
	if l, ok := sec.Data["policies"].([]any); ok {
		for _, p := range l {
			if s, ok := p.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func withoutDefault(policies []string) []string {
	out := []string{}
	for _, p := range policies {
		if p = strings.ToLower(p); p != "default" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func jsonInt(x any) (int64, bool) {
	switch n := x.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case float64:
		return int64(n), true
	}
	return 0, false
}

func stringListValue(l []string) *starlark.List {
	out := make([]starlark.Value, len(l))
	for i, s := range l {
		out[i] = starlark.String(s)
	}
	return starlark.NewList(out)
}

// reuseGiven says whether the call passed reuse= (even None: "no token is in use"), the
// seventh parameter.
func reuseGiven(args starlark.Tuple, kwargs []starlark.Tuple) bool {
	if len(args) >= 7 {
		return true
	}
	for _, kv := range kwargs {
		if k, ok := kv[0].(starlark.String); ok && string(k) == "reuse" {
			return true
		}
	}
	return false
}
