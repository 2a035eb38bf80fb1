package vault

import (
	"context"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// policy is vault.policy(name, rules, namespace=None), as `vault policy write NAME FILE`.
//
// rules is either a dict {path: [capabilities]} (or {path: {"capabilities": [...],
// "allowed_parameters": {...}, ...}}), rendered to HCL with hclwrite, or a raw HCL (or
// JSON) policy string written as given. Capability names are checked (create read update
// patch delete list sudo deny subscribe); an invalid one is an error naming it.
//
// Plan and apply: the live policy (sys/policies/acl/NAME) and the desired one are both
// parsed as Vault parses policies and compared path by path, so formatting and comments
// never count as a change. Absent -> create; different -> update, with a diff per path
// (`~ path "x": [read] -> [update]`, `+ path "y": [read]`, `- path "z": [list]`);
// equal -> unchanged, no write. Offline or before login, a create listing every path.
// From the fourth policy of a run on, one LIST of sys/policies/acl says which names
// exist, and an absent one is a create without reading it (index.go).
//
// The rules are remembered for the run, so the capability checker knows a policy this
// script writes even in a plan, before it exists in Vault.
//
// substitute = {"PLACEHOLDER": value} replaces each placeholder in the rules' text with
// value, as `nomad setup vault` fills AUTH_METHOD_ACCESSOR into its templated policy.
// The value may be unknown (the accessor of an auth method this run enables): the plan
// then shows the paths with the placeholder, and a note says what it stands for; the
// policy is a create, or an update of an existing one, never "unchanged".
//
// Its Delete (for destroy) deletes the policy.
func (v *vault) policy(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns, kwargs, err := namespaceKwarg(fn.Name(), kwargs)
	if err != nil {
		return nil, err
	}
	var name string
	var rulesArg starlark.Value
	var subst *starlark.Dict
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "rules", &rulesArg, "substitute?", &subst); err != nil {
		return nil, err
	}
	name = strings.ToLower(strings.TrimSpace(name)) // Vault lower-cases policy names
	if name == "" || name == "root" {
		return nil, fmt.Errorf("%s: name: %q cannot be written", fn.Name(), name)
	}
	var text string
	var desired *policyRules
	var pending []string
	dict, _ := rulesArg.(*starlark.Dict)
	switch r := rulesArg.(type) {
	case *starlark.Dict:
		// A plain dict's rules are known without rendering and parsing it; its text is
		// rendered only when written (policyText), so a plan and the apply's preflight
		// never render it.
		if subst == nil {
			desired, _ = rulesOfDict(r)
		}
		if desired == nil {
			if text, err = renderPolicyMemo(r); err != nil {
				return nil, fmt.Errorf("%s: %q: %w", fn.Name(), name, err)
			}
		}
	case starlark.String:
		text = string(r)
	default:
		return nil, fmt.Errorf("%s: rules: want a dict {path: [capabilities]} or an HCL string, not %s", fn.Name(), rulesArg.Type())
	}
	if desired == nil {
		if text, pending, err = substitute(text, subst); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", fn.Name(), name, err)
		}
		if desired, err = parsePolicyMemo(text); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", fn.Name(), name, err)
		}
	}
	policyText := func() (string, error) {
		if text == "" && dict != nil {
			// Only the run that writes it renders a plain dict's policy, once: the memo
			// would only hold its text.
			return renderPolicy(dict)
		}
		return text, nil
	}
	v.policies[v.policyKey(ns, name)] = desired

	paths := runtime.Plural(len(desired.order), "path")
	return v.run.Converge(thread, runtime.Resource{
		Server:  v.server,
		Address: v.address(ns, "policy", name),
		// Read uses the run's client (made once, under a lock) and the name index
		// (locked); a plan returns None whatever it finds: the read may run ahead.
		AsyncResult: starlark.None,
		Read: func(ctx context.Context) (any, runtime.Fingerprint, error) {
			c, err := v.api(ns)
			if err != nil {
				return nil, "", err
			}
			if v.knownAbsent(ctx, c, ns, policyCollection, name) {
				return nil, runtime.Absent, nil
			}
			text, err := getPolicy(ctx, c, name)
			if err != nil {
				return nil, "", v.explain(err)
			}
			if text == "" {
				return nil, runtime.Absent, nil
			}
			return text, policyFingerprint(text), nil
		},
		Diff: func(live runtime.Live) runtime.Change {
			liveText, _ := live.Value.(string)
			if liveText == "" {
				return runtime.Change{Action: runtime.Create, Summary: paths, Planned: starlark.None,
					Diff:  diffPolicy(&policyRules{paths: map[string]*pathRule{}}, desired),
					Notes: append(pending, unreadNotes(live)...)}
			}
			current, err := parsePolicyMemo(liveText)
			if err != nil {
				// Vault accepted it, so this is a parser gap of ours: rewrite it, and say why.
				return runtime.Change{Action: runtime.Update, Summary: "live policy could not be compared", Planned: starlark.None,
					Diff:  diffPolicy(&policyRules{paths: map[string]*pathRule{}}, desired),
					Notes: []string{"live policy: " + err.Error()}}
			}
			diff := diffPolicy(current, desired)
			switch {
			case len(pending) > 0:
				// The live policy may well be right, but that can only be known at apply.
				return runtime.Change{Action: runtime.Update, Summary: paths + ", placeholders known after apply",
					Diff: diff, Notes: pending, Planned: starlark.None}
			case len(diff) == 0:
				return runtime.Change{Action: runtime.Unchanged, Summary: paths}
			}
			return runtime.Change{Action: runtime.Update, Summary: fmt.Sprintf("%s of %s", runtime.Plural(len(diff), "change"), paths),
				Diff: diff, Planned: starlark.None}
		},
		Write: func(ctx context.Context, _ runtime.Live) (starlark.Value, error) {
			c, err := v.api(ns)
			if err != nil {
				return nil, err
			}
			text, err := policyText()
			if err != nil {
				return nil, err
			}
			if err := c.Sys().PutPolicyWithContext(ctx, name, text); err != nil {
				return nil, v.explain(err)
			}
			v.wrote(ns, policyCollection, name)
			return nil, nil
		},
		Delete: func(ctx context.Context) error {
			c, err := v.api(ns)
			if err != nil {
				return err
			}
			return v.explain(c.Sys().DeletePolicyWithContext(ctx, name))
		},
	})
}

func (v *vault) policyKey(ns, name string) string {
	if ns == "" {
		ns = v.namespace
	}
	return ns + "\x00" + strings.ToLower(name)
}
