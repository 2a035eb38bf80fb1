package vault

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

const kvPassword = "CANARY-kv-pa55word-91c2"

func TestGenericWriteReadDeleteList(t *testing.T) {
	o := opts{token: rootToken(t)}
	mustRun(t, `vault.mount("t-kv1", "kv", options = {"version": "1"})`, runtime.Apply, o)

	write := `vault.write("t-kv1/app", user = "svc", password = "` + kvPassword + `", ttl = "1h", roles = ["a", "b"])`
	_, apply := lifecycle(t, write, `vault path "t-kv1/app"`, runtime.Create)
	noSecrets(t, apply, kvPassword)

	// kv returns the password, so it is compared (and shown redacted).
	r := mustRun(t, `vault.write("t-kv1/app", user = "svc", password = "other-pa55word", ttl = 3600, roles = "a,b")`, runtime.Plan, o)
	rec := r.record(t, `vault path "t-kv1/app"`)
	if rec.Action != runtime.Update || len(rec.Diff) != 1 || rec.Diff[0].Key != "password" || rec.Diff[0].Before != runtime.Redacted || rec.Diff[0].After != runtime.Redacted {
		t.Errorf("a changed password: %s %+v\n%s", rec.Action, rec.Diff, r.plan)
	}
	noSecrets(t, r, kvPassword, "other-pa55word")

	c := newCapture()
	read := mustRun(t, `
d = vault.read("t-kv1/app", safe_in_plan = True)
print(d)
capture.put("user", d["user"])
capture.put("password_type", type(d["password"]))
keys = vault.list("t-kv1")
capture.put("keys", keys)
`, runtime.Plan, opts{token: rootToken(t), modules: []runtime.Module{c.module()}, skipPreflight: true})
	if c.get("user") != "svc" || c.get("password_type") != "secret" {
		t.Errorf("read: user %v, password is a %v", c.get("user"), c.get("password_type"))
	}
	if keys, _ := c.get("keys").([]any); len(keys) != 1 || keys[0] != "app" {
		t.Errorf("list: %v", c.get("keys"))
	}
	if !strings.Contains(read.out, `"password": (sensitive)`) {
		t.Errorf("print of the read: %s", read.out)
	}
	noSecrets(t, read, kvPassword)

	// A read is not made in a plan unless the script says it is safe.
	p := mustRun(t, `vault.read("t-kv1/app")`, runtime.Plan, o)
	if rec := p.record(t, `vault read "t-kv1/app"`); rec.Status != "planned" || !rec.KnownAfterApply {
		t.Errorf("plan read: %+v", rec)
	}
	for _, q := range p.rec.all() {
		if strings.Contains(q, "t-kv1/app") {
			t.Errorf("the plan read %s", q)
		}
	}

	_, del := lifecycle(t, `vault.delete("t-kv1/app")`, `vault path "t-kv1/app"`, runtime.Delete)
	if w := del.rec.writes(); len(w) != 1 || !strings.HasPrefix(w[0], "DELETE ") {
		t.Errorf("delete wrote %v", w)
	}
	gone := mustRun(t, `print(vault.read("t-kv1/app"))`, runtime.Apply, o)
	if !strings.Contains(gone.out, "None") {
		t.Errorf("read after delete: %q", gone.out)
	}
}

func TestSameValue(t *testing.T) {
	num := func(s string) any { return json.Number(s) }
	for _, c := range []struct {
		want, have any
		same       bool
	}{
		{"1h", num("3600"), true},
		{"1h", "1h0m0s", true},
		{int64(3600), num("3600"), true},
		{"accessdb", []any{"accessdb"}, true},
		{"a,b", []any{"b", "a"}, true},
		{"GRANT x, y ON z;", []any{"GRANT x, y ON z;"}, true},
		{[]any{"s1;", "s2;"}, []any{"s1;", "s2;"}, true},
		{true, "true", true},
		{map[string]any{"connection_url": "u"}, map[string]any{"connection_url": "u", "max_open_connections": num("4")}, true},
		{"1h", num("7200"), false},
		{"a,b", []any{"a"}, false},
		{map[string]any{"connection_url": "u"}, map[string]any{"connection_url": "v"}, false},
		{"x", nil, false},
	} {
		if got := sameValue(c.want, c.have); got != c.same {
			t.Errorf("sameValue(%#v, %#v) = %v, want %v", c.want, c.have, got, c.same)
		}
	}
}
