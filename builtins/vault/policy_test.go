package vault

import (
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// lifecycle runs src as plan, apply, plan, apply and checks the declarative contract:
// the first plan lists address as action without writing, the apply makes it, the
// second plan finds it unchanged, and the second apply writes nothing.
func lifecycle(t *testing.T, src, address string, first runtime.Action) (plan, apply result) {
	t.Helper()
	o := opts{token: rootToken(t)}
	plan = mustRun(t, src, runtime.Plan, o)
	if got := plan.record(t, address).Action; got != first {
		t.Errorf("first plan: %s is %s, want %s\n%s", address, got, first, plan.plan)
	}
	if w := plan.rec.writes(); len(w) != 0 {
		t.Errorf("first plan wrote: %v", w)
	}
	apply = mustRun(t, src, runtime.Apply, o)
	if len(apply.rec.writes()) == 0 {
		t.Errorf("first apply wrote nothing: %v", apply.rec.all())
	}
	plan2 := mustRun(t, src, runtime.Plan, o)
	if got := plan2.record(t, address).Action; got != runtime.Unchanged {
		t.Errorf("second plan: %s is %s, want unchanged\n%s", address, got, plan2.plan)
	}
	apply2 := mustRun(t, src, runtime.Apply, o)
	if w := apply2.rec.writes(); len(w) != 0 {
		t.Errorf("second apply made %d writes: %v", len(w), w)
	}
	if got := apply2.record(t, address).Action; got != runtime.Unchanged {
		t.Errorf("second apply: %s is %s, want unchanged", address, got)
	}
	for _, r := range []result{plan, apply, plan2, apply2} {
		noSecrets(t, r, rootToken(t), bootstrap(t).unsealKey)
	}
	return plan, apply
}

func TestPolicyLifecycle(t *testing.T) {
	lifecycle(t, `
vault.policy("t-life", {
    "secret/a": ["read", "list"],
    "secret/b/*": ["create", "update"],
    "secret/+/c": {"capabilities": ["read"], "allowed_parameters": {"ttl": []}},
})
`, `vault policy "t-life"`, runtime.Create)
}

func TestPolicyDiffByPathAndCapability(t *testing.T) {
	o := opts{token: rootToken(t)}
	mustRun(t, `vault.policy("t-diff", {"auth/token/create/x": ["read"], "keep": ["read"], "gone": ["list"]})`, runtime.Apply, o)
	r := mustRun(t, `vault.policy("t-diff", {"auth/token/create/x": ["update"], "keep": ["read"], "new": ["read"]})`, runtime.Plan, o)
	rec := r.record(t, `vault policy "t-diff"`)
	if rec.Action != runtime.Update {
		t.Fatalf("action %s, want update\n%s", rec.Action, r.plan)
	}
	for _, want := range []string{
		`~ path "auth/token/create/x": [read] -> [update]`,
		`+ path "new": [read]`,
		`- path "gone": [list]`,
	} {
		if !strings.Contains(r.plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.plan)
		}
	}
	if strings.Contains(r.plan, `path "keep"`) {
		t.Errorf("an unchanged path is in the diff:\n%s", r.plan)
	}
}

// A raw HCL policy that means the same as the live one, formatted differently, with
// comments, or as JSON, is unchanged.
func TestPolicyFormattingIsNotAChange(t *testing.T) {
	o := opts{token: rootToken(t)}
	mustRun(t, `vault.policy("t-fmt", {"secret/x": ["read", "list"], "sys/y": ["update"]})`, runtime.Apply, o)
	for name, rules := range map[string]string{
		"hcl": `# reformatted
path "sys/y" { capabilities = ["update"] }
path "secret/x" {
  capabilities = [ "list",
                   "read" ]   # order does not matter
}`,
		"legacy": `path "secret/x" { policy = "read" }
path "sys/y" { capabilities = ["update"] }`,
		"json": `{"path": {"secret/x": {"capabilities": ["read", "list"]}, "sys/y": {"capabilities": ["update"]}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRun(t, "vault.policy(\"t-fmt\", '''"+rules+"''')", runtime.Plan, o)
			if got := r.record(t, `vault policy "t-fmt"`).Action; got != runtime.Unchanged {
				t.Errorf("%s is %s, want unchanged\n%s", name, got, r.plan)
			}
		})
	}
}

func TestPolicyInvalidCapability(t *testing.T) {
	for name, src := range map[string]string{
		"dict": `vault.policy("t-bad", {"secret/x": ["read", "wrte"]})`,
		"hcl":  `vault.policy("t-bad", 'path "secret/x" { capabilities = ["wrte"] }')`,
	} {
		t.Run(name, func(t *testing.T) {
			// Offline: the check needs no server, so the apply preflight catches it.
			r := run(t, src, runtime.Plan, opts{offline: true})
			if r.err == nil || !strings.Contains(r.errMsg, `invalid capability "wrte"`) || !strings.Contains(r.errMsg, "vault.policy") {
				t.Errorf("want an error naming the bad capability and the builtin, got: %s", r.errMsg)
			}
		})
	}
}

// The dict form is rendered with hclwrite into HCL that Vault accepts and reads back
// as the same rules.
func TestRenderPolicy(t *testing.T) {
	r := mustRun(t, `
vault.policy("t-render", {
    "secret/data/\"quoted\"": ["read"],
    "kv/+/cfg": {"capabilities": ["create", "update"], "allowed_parameters": {"*": [], "ttl": ["1h", "2h"]}, "max_wrapping_ttl": "1h"},
})
`, runtime.Apply, opts{token: rootToken(t)})
	_ = r
	r2 := mustRun(t, `
vault.policy("t-render", {
    "secret/data/\"quoted\"": ["read"],
    "kv/+/cfg": {"capabilities": ["update", "create"], "allowed_parameters": {"ttl": ["1h", "2h"], "*": []}, "max_wrapping_ttl": "1h"},
})
`, runtime.Plan, opts{token: rootToken(t)})
	if got := r2.record(t, `vault policy "t-render"`).Action; got != runtime.Unchanged {
		t.Errorf("re-planning the same dict: %s\n%s", got, r2.plan)
	}
	r3 := mustRun(t, `
vault.policy("t-render", {
    "secret/data/\"quoted\"": ["read"],
    "kv/+/cfg": {"capabilities": ["update", "create"], "allowed_parameters": {"ttl": ["1h"]}, "max_wrapping_ttl": "1h"},
})
`, runtime.Plan, opts{token: rootToken(t)})
	if !strings.Contains(r3.plan, `~ path "kv/+/cfg" parameters:`) {
		t.Errorf("a parameter change is not shown:\n%s", r3.plan)
	}
}

func TestParsePolicyEquivalence(t *testing.T) {
	base, err := parsePolicy(`path "a" { capabilities = ["read", "list"] }
path "/b/*" { capabilities = ["deny", "read"] }`)
	if err != nil {
		t.Fatal(err)
	}
	if got := capsText(base.paths["b/*"].caps); got != "[deny]" {
		t.Errorf("deny with read: %s, want [deny] (deny stands alone, leading / stripped)", got)
	}
	dup, err := parsePolicy(`path "a" { capabilities = ["read"] }
path "a" { capabilities = ["list"] }
path "b/*" { capabilities = ["deny"] }`)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffPolicy(base, dup); len(d) != 0 {
		t.Errorf("repeated paths are merged as Vault does; diff %v", d)
	}
	for _, bad := range []string{`path "a" { capabilities = ["rea"] }`, `path "a" { policy = "admin" }`, `paths "a" {}`, `path "a" { capability = ["read"] }`, `path "a" {`} {
		if _, err := parsePolicy(bad); err == nil {
			t.Errorf("parsePolicy(%q) accepted it", bad)
		}
	}
}
