package vault

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// capsModule is a test-only module that uses "vault.capabilities" as the nomad module
// does: caps.check(policies, path) -> struct(caps, granted_by), or an error string.
func capsModule() runtime.Module {
	type checker interface {
		CheckCapabilities(ctx context.Context, policies []string, path string) ([]string, []string, error)
		EvaluateCapabilities(ctx context.Context, policies []string, path string) ([]string, []string, error)
	}
	return runtime.Module{Name: "caps", New: func(r *runtime.Run) (starlark.Value, error) {
		check := func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var pol *starlark.List
			var path string
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "policies", &pol, "path", &path); err != nil {
				return nil, err
			}
			c, ok := r.Lookup("vault.capabilities").(checker)
			if !ok {
				return nil, fmt.Errorf("no vault.capabilities")
			}
			policies, _ := runtime.StringList(pol)
			// As nomad.run asks: Vault's confirmation (a token mint) only in apply, right
			// before a register; a plan evaluates.
			check := c.CheckCapabilities
			if r.Mode() != runtime.Apply {
				check = c.EvaluateCapabilities
			}
			caps, by, err := check(r.Context(), policies, path)
			if err != nil {
				return starlark.String("error: " + err.Error()), nil
			}
			return runtime.Struct(starlark.StringDict{"caps": stringListValue(caps), "granted_by": stringListValue(by)}), nil
		}
		return &starlarkstruct.Module{Name: "caps", Members: starlark.StringDict{"check": starlark.NewBuiltin("caps.check", check)}}, nil
	}}
}

const capsScript = `
vault.policy("t-caps-app", {
    "secret/data/app/*": ["read", "list"],
    "secret/data/app/admin": ["deny"],
    "secret/data/+/shared": ["read", "update"],
})
vault.policy("t-caps-ops", {"secret/data/app/*": ["update"], "secret/data/app/admin": ["read"]})
for name, pols, path in [
    ("app_x", ["t-caps-app"], "secret/data/app/x"),
    ("both_x", ["t-caps-app", "t-caps-ops"], "secret/data/app/x"),
    ("admin", ["t-caps-app", "t-caps-ops"], "secret/data/app/admin"),
    ("shared", ["t-caps-app"], "secret/data/team/shared"),
    ("none", ["t-caps-app"], "sys/mounts"),
    ("default", ["default"], "auth/token/lookup-self"),
]:
    capture.put(name, caps.check(pols, path))
`

func TestCapabilityChecker(t *testing.T) {
	want := map[string]string{
		"app_x":   "[read list] by [t-caps-app]",
		"both_x":  "[read update list] by [t-caps-app]",
		"admin":   "[deny] by []",
		"shared":  "[read update] by [t-caps-app]",
		"none":    "[deny] by []",
		"default": "[read] by [default]",
	}
	check := func(t *testing.T, c *capture) {
		t.Helper()
		for name, w := range want {
			got := fmt.Sprint(c.get(name))
			if m, ok := c.get(name).(map[string]any); ok {
				got = fmt.Sprintf("%v by %v", m["caps"], m["granted_by"])
			}
			if got != w {
				t.Errorf("%s: %s, want %s", name, got, w)
			}
		}
	}
	o := func(c *capture) opts {
		return opts{token: rootToken(t), modules: []runtime.Module{c.module(), capsModule()}, skipPreflight: true}
	}

	// In a plan the script's policies are known before they exist in Vault; "default"
	// is read from Vault. Nothing is written.
	c := newCapture()
	plan := mustRun(t, capsScript, runtime.Plan, o(c))
	check(t, c)
	if w := plan.rec.writes(); len(w) != 0 {
		t.Errorf("the plan wrote %v", w)
	}

	// In apply, Vault confirms each answer with a short-lived token.
	c = newCapture()
	apply := mustRun(t, capsScript, runtime.Apply, o(c))
	check(t, c)
	var mints, asks, revokes int
	for _, q := range apply.rec.all() {
		switch {
		case strings.HasSuffix(q, "/auth/token/create-orphan"):
			mints++
		case strings.HasSuffix(q, "/sys/capabilities"):
			asks++
		case strings.HasSuffix(q, "/auth/token/revoke"):
			revokes++
		}
	}
	if mints != len(want) || asks != len(want) || revokes != len(want) {
		t.Errorf("apply: %d mints, %d sys/capabilities, %d revocations, want %d each", mints, asks, revokes, len(want))
	}
	if len(apply.res.Warnings) != 0 {
		t.Errorf("warnings: %v", apply.res.Warnings)
	}

	// Offline, a policy the script does not write cannot be known.
	c = newCapture()
	mustRun(t, `capture.put("x", caps.check(["default"], "auth/token/lookup-self"))`, runtime.Plan,
		opts{offline: true, modules: []runtime.Module{c.module(), capsModule()}})
	if s, _ := c.get("x").(string); !strings.Contains(s, "not written by this script") {
		t.Errorf("offline, unknown policy: %v", c.get("x"))
	}
}

func TestACLMatching(t *testing.T) {
	mk := func(name, src string) namedPolicy {
		r, err := parsePolicy(src)
		if err != nil {
			t.Fatal(err)
		}
		return namedPolicy{name: name, rules: r}
	}
	a := newACL([]namedPolicy{
		mk("p1", `
path "secret/*" { capabilities = ["read"] }
path "secret/foo" { capabilities = ["update"] }
path "secret/foo/bar*" { capabilities = ["list"] }
path "secret/+/baz" { capabilities = ["create"] }
path "secret/+/+/baz" { capabilities = ["delete"] }
path "kv/+/x*" { capabilities = ["sudo"] }
path "denied/*" { capabilities = ["read"] }
path "list-me" { capabilities = ["list"] }
`),
		mk("p2", `
path "secret/*" { capabilities = ["list"] }
path "denied/*" { capabilities = ["deny"] }
`),
	})
	for path, want := range map[string]string{
		"secret/foo":        "[update]",     // exact beats glob
		"secret/other":      "[read, list]", // merged across policies
		"secret/foo/barn":   "[list]",       // longest prefix
		"secret/a/baz":      "[create]",     // + segment beats the shorter secret/* prefix
		"secret/a/b/baz":    "[delete]",     //
		"kv/a/xyz":          "[sudo]",       // segment with trailing glob
		"kv/a":              "[deny]",       // too short for kv/+/x*
		"denied/thing":      "[deny]",       // deny in any policy wins
		"list-me/":          "[list]",       // a list on "path/" matches "path"
		"/secret/foo":       "[update]",     // leading slash ignored
		"elsewhere/nothing": "[deny]",       // no match
		"secret/foo/bar":    "[list]",       // prefix of "secret/foo/bar*"
	} {
		caps, _ := a.capabilities(path)
		if got := capsText(caps); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if _, by := a.capabilities("secret/other"); strings.Join(by, ",") != "p1" {
		t.Errorf("read on secret/other granted by %v, want p1", by)
	}
	root := newACL([]namedPolicy{{name: "root"}})
	if caps, _ := root.capabilities("anything"); capsText(caps) != "[root]" {
		t.Errorf("root: %v", caps)
	}
}
