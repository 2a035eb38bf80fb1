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
func (v *vault) tokenCreate(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := popNamespace(fn.Name(), kwargs)
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
	if period != starlark.None {
		d, err := runtime.Duration(period)
		if err != nil {
			return nil, fmt.Errorf("%s: period: %w", fn.Name(), err)
		}
		periodSecs = int64(d / time.Second)
		req.Period = fmt.Sprintf("%ds", periodSecs)
	}
	if ttl != starlark.None {
		d, err := runtime.Duration(ttl)
		if err != nil {
			return nil, fmt.Errorf("%s: ttl: %w", fn.Name(), err)
		}
		ttlSecs = int64(d / time.Second)
		req.TTL = fmt.Sprintf("%ds", ttlSecs)
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
	mint := runtime.Change{
		Address: addr, Action: runtime.Create, Summary: "new token", Diff: diff,
		Apply: func(ctx context.Context) (starlark.Value, error) { return v.mintToken(ctx, ns, req, orphan) },
	}

	if !reuseGiven(args, kwargs) {
		// No token in use to tell the others by: each run hands its new token on, so
		// the tokens earlier runs minted for this address are not strays.
		return v.run.Effect(thread, mint)
	}
	// The script names the token in use (None: none is), so any other valid token minted
	// for this address is a stray of an interrupted run: revoked before the mint.
	mintSweeping := func(inUse string) (starlark.Value, error) {
		if v.state(true) == live {
			if err := v.sweepStrays(thread, ns, addr, inUse); err != nil {
				return nil, err
			}
		}
		return v.run.Effect(thread, mint)
	}
	if reuse == starlark.None {
		return mintSweeping("")
	}
	if runtime.IsUnknown(reuse) {
		mint.Notes = append(mint.Notes, "the token in use is known only at apply, which mints a new one only if it cannot be reused")
		return v.run.Effect(thread, mint)
	}
	current, _, ok := runtime.StringOrSecret(reuse)
	if !ok {
		return nil, fmt.Errorf("%s: reuse: want a token (secret or string) or None, not %s", fn.Name(), reuse.Type())
	}
	if current == "" {
		return mintSweeping("")
	}
	v.run.Secret(current)
	st := v.state(true)
	if st != live {
		mint.Notes = append(mint.Notes, "apply reuses the token in use if it is still valid")
		return v.plannedWithoutRead(thread, st, mint)
	}

	c, err := v.api(ns)
	if err != nil {
		return nil, err
	}
	sec, err := c.Auth().Token().LookupWithContext(v.run.Context(), current)
	var why, inUse string
	switch {
	case err == nil:
		why = reusable(sec, policies, orphan, renewable, periodSecs, ttlSecs)
		if sec != nil && sec.Data != nil {
			inUse, _ = sec.Data["accessor"].(string)
		}
	case badToken(err):
		why = "it is not valid (" + responseText(err) + ")"
	case v.degrade(err):
		return v.plannedWithoutRead(thread, offline, mint)
	default:
		return v.readFailed(thread, addr, err)
	}
	if why != "" {
		mint.Notes = append(mint.Notes, "the token in use is not reused: "+why)
		return mintSweeping(inUse)
	}
	left, _ := jsonInt(sec.Data["ttl"])
	v.keep(inUse)
	return v.run.Effect(thread, runtime.Change{
		Address: addr, Action: runtime.Unchanged, Summary: "token in use reused (" + showSeconds(left) + " left)",
		Planned: runtime.Struct(starlark.StringDict{
			"token":    v.run.Secret(current),
			"accessor": starlark.String(fmt.Sprint(sec.Data["accessor"])),
			"policies": stringListValue(tokenPolicies(sec)),
			"ttl":      starlark.MakeInt64(left),
		}),
	})
}

// mintToken creates the token; orphans through create-orphan.
func (v *vault) mintToken(ctx context.Context, ns string, req *api.TokenCreateRequest, orphan bool) (starlark.Value, error) {
	c, err := v.api(ns)
	if err != nil {
		return nil, err
	}
	var sec *api.Secret
	if orphan {
		sec, err = c.Auth().Token().CreateOrphanWithContext(ctx, req)
	} else {
		sec, err = c.Auth().Token().CreateWithContext(ctx, req)
	}
	if err != nil {
		return nil, v.explain(err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, fmt.Errorf("Vault at %s returned no token", v.addr)
	}
	v.keep(sec.Auth.Accessor)
	return runtime.Struct(starlark.StringDict{
		"token":    v.run.Secret(sec.Auth.ClientToken),
		"accessor": starlark.String(sec.Auth.Accessor),
		"policies": stringListValue(sec.Auth.Policies),
		"ttl":      starlark.MakeInt(sec.Auth.LeaseDuration),
	}), nil
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
