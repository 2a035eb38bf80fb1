package vaultfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// A conformance case is a sequence of requests; every step runs against the fake and
// against the real Vault 1.14.1, and the answers must agree on the status and on the
// selected parts of the JSON body. The whole table runs in order against ONE fake and
// ONE real Vault, both starting uninitialised, so each case sees what the ones before
// it left.
type conformanceCase struct {
	name  string
	steps []step
}

type step struct {
	method, path string
	body         string // JSON; {{name}} is replaced by the target's variable name
	// token is the X-Vault-Token: "" the root token (after init), "-" none, or a
	// literal, {{name}} replaced.
	token string
	// same lists the selectors whose values must be equal: "data.keys", "errors",
	// "#data.keys" (the length), "keys(data)" (the sorted keys of an object),
	// "rules(data.policy)" (a policy's parsed rules), "set(data.keys)" (sorted).
	same []string
	// like maps selectors of generated values (tokens, accessors, lease ids) to the
	// regexp both answers' values must match.
	like map[string]string
	// save keeps selected values of each target's answer as variables for later steps.
	save map[string]string
	// waitActive waits, after the step, until the real Vault is active again.
	waitActive bool
}

// target is a Vault the table runs against.
type target struct {
	name   string
	base   string
	client *http.Client
	vars   map[string]string
	wait   func() error
}

type reply struct {
	status int
	body   map[string]any
	raw    string
}

func (tg *target) do(s step) (reply, error) {
	body := tg.expand(s.body)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	method := s.method
	url := tg.base + "/v1/" + tg.expand(s.path)
	if method == "LIST" {
		method, url = http.MethodGet, url+"?list=true"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	switch tok := s.token; tok {
	case "":
		req.Header.Set("X-Vault-Token", tg.vars["root"])
	case "-":
	default:
		req.Header.Set("X-Vault-Token", tg.expand(tok))
	}
	res, err := tg.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&r.body); err != nil {
			return r, fmt.Errorf("%s answered %d with a body that is not JSON: %q", tg.name, res.StatusCode, raw)
		}
	}
	return r, nil
}

func (tg *target) expand(s string) string {
	return regexp.MustCompile(`\{\{([a-z_0-9]+)\}\}`).ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-2]
		if v, ok := tg.vars[name]; ok {
			return v
		}
		return m // Vault's own templates ({{username}}) stay
	})
}

// selectValue resolves a selector on a JSON body; found is false if a part is missing.
func selectValue(body map[string]any, sel string) (any, bool) {
	if fn, arg, isFn := strings.Cut(sel, "("); isFn && strings.HasSuffix(arg, ")") {
		v, found := selectValue(body, strings.TrimSuffix(arg, ")"))
		if !found {
			return nil, false
		}
		switch fn {
		case "keys":
			m, _ := v.(map[string]any)
			return slices.Sorted(maps.Keys(m)), true
		case "set":
			l := stringList(v)
			sort.Strings(l)
			return l, true
		case "rules":
			s, _ := v.(string)
			rules, err := parsePolicy(s)
			if err != nil {
				return "unparsable: " + err.Error(), true
			}
			var out []string
			for _, r := range rules {
				caps := append([]string(nil), r.caps...)
				sort.Strings(caps)
				out = append(out, r.pattern+" "+strings.Join(caps, ","))
			}
			sort.Strings(out)
			return out, true
		}
		return nil, false
	}
	if rest, isLen := strings.CutPrefix(sel, "#"); isLen {
		v, found := selectValue(body, rest)
		switch x := v.(type) {
		case []any:
			return len(x), found
		case map[string]any:
			return len(x), found
		}
		return nil, found
	}
	var v any = body
	for _, part := range strings.Split(sel, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// secretFields are the answer fields that hold tokens, keys or passwords: a failing
// case shows them as (redacted), never their values.
var secretFields = map[string]bool{"client_token": true, "root_token": true, "keys": true, "keys_base64": true,
	"id": true, "password": true, "accessor": true}

// redacted is an answer's body for a message, with its secrets redacted.
func redacted(r reply) string {
	if r.body == nil {
		return strings.TrimSpace(r.raw)
	}
	var walk func(any) any
	walk = func(x any) any {
		m, ok := x.(map[string]any)
		if !ok {
			return x
		}
		out := map[string]any{}
		for k, v := range m {
			if secretFields[k] && v != nil && v != "" {
				out[k] = "(redacted)"
			} else {
				out[k] = walk(v)
			}
		}
		return out
	}
	b, _ := json.Marshal(walk(r.body))
	return string(b)
}

func show(v any, found bool) string {
	if !found {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// compare runs s on both targets and describes every difference ("" if none).
func compare(s step, fake, real *target) (string, error) {
	fr, err := fake.do(s)
	if err != nil {
		return "", err
	}
	rr, err := real.do(s)
	if err != nil {
		return "", err
	}
	if os.Getenv("VAULTFAKE_SHOW") != "" { // to see both answers while writing a case
		fmt.Printf("%s %s\n  fake:  %d %s\n  vault: %d %s\n", s.method, s.path, fr.status, redacted(fr), rr.status, redacted(rr))
	}
	var diffs []string
	if fr.status != rr.status {
		diffs = append(diffs, fmt.Sprintf("status: fake %d, vault %d\n      fake body:  %s\n      vault body: %s",
			fr.status, rr.status, redacted(fr), redacted(rr)))
	}
	for _, sel := range s.same {
		fv, ff := selectValue(fr.body, sel)
		rv, rf := selectValue(rr.body, sel)
		if a, b := show(fv, ff), show(rv, rf); a != b {
			diffs = append(diffs, fmt.Sprintf("%s:\n      fake:  %s\n      vault: %s", sel, a, b))
		}
	}
	for _, sel := range slices.Sorted(maps.Keys(s.like)) {
		re := regexp.MustCompile(s.like[sel])
		for _, x := range []struct {
			name string
			r    reply
		}{{"fake", fr}, {"vault", rr}} {
			v, found := selectValue(x.r.body, sel)
			if str := fmt.Sprint(v); !found || !re.MatchString(str) {
				shown := show(v, found)
				parts := strings.Split(sel, ".")
				if secretFields[strings.TrimRight(parts[len(parts)-1], "0123456789")] || (len(parts) > 1 && secretFields[parts[len(parts)-2]]) {
					shown = fmt.Sprintf("(redacted, %d chars)", len(str))
				}
				diffs = append(diffs, fmt.Sprintf("%s: %s answered %s, want a value like /%s/", sel, x.name, shown, s.like[sel]))
			}
		}
	}
	for name, sel := range s.save {
		for _, tg := range []*target{fake, real} {
			r := fr
			if tg == real {
				r = rr
			}
			if v, found := selectValue(r.body, sel); found {
				tg.vars[name] = fmt.Sprint(v)
			}
		}
	}
	if s.waitActive && real.wait != nil {
		if err := real.wait(); err != nil {
			return "", err
		}
	}
	return strings.Join(diffs, "\n    "), nil
}

// conformanceEnv is a real Vault (uninitialised) and PostgreSQL for the database
// engine's cases, and a JWKS endpoint for the jwt auth method's.
func conformanceEnv(t *testing.T) (vaultSrv *testserver.Vault, pg *testserver.Postgres, jwksURL string) {
	t.Helper()
	dir := t.TempDir()
	start := time.Now()
	vaultSrv, err := testserver.StartVault(filepath.Join(dir, "vault"))
	if err != nil {
		t.Fatalf("the conformance suite needs the real Vault: %v", err)
	}
	pg, err = testserver.StartPostgres(filepath.Join(dir, "pg"))
	if err != nil {
		vaultSrv.Stop()
		t.Fatalf("the conformance suite needs PostgreSQL: %v", err)
	}
	// Vault first: PostgreSQL's shutdown waits for the connections Vault holds.
	t.Cleanup(func() { vaultSrv.Stop(); pg.Stop() })
	jwks := newJWKS(t)
	t.Logf("vault %s, postgres %s:%d up in %s", vaultSrv.Addr, pg.Host, pg.Port, time.Since(start).Round(time.Millisecond))
	return vaultSrv, pg, jwks
}

// TestConformance runs the table against the fake and the real Vault.
func TestConformance(t *testing.T) {
	vaultSrv, pg, jwks := conformanceEnv(t)
	f, err := FromStarlark([]starlark.Tuple{{starlark.String("initialized"), starlark.False}})
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]string{
		"pg_url":      fmt.Sprintf("postgresql://{{username}}:{{password}}@%s:%d/postgres?sslmode=disable", pg.Host, pg.Port),
		"pg_user":     pg.User,
		"pg_password": pg.Password,
		"jwks_url":    jwks,
	}
	fake := &target{name: "fake", base: "http://vault.test:8200", client: &http.Client{Transport: fakenet.Transport(f)}, vars: map[string]string{}}
	real := &target{name: "vault", base: vaultSrv.Addr, client: &http.Client{Timeout: 30 * time.Second}, vars: map[string]string{},
		wait: func() error { return vaultSrv.WaitActive(20 * time.Second) }}
	for k, v := range shared {
		fake.vars[k], real.vars[k] = v, v
	}
	broken := false // a step could not run: the cases after it would only repeat the failure
	for _, c := range conformanceCases {
		if broken {
			t.Errorf("case %q not run", c.name)
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			for i, s := range c.steps {
				d, err := compare(s, fake, real)
				if err != nil {
					broken = true
					t.Fatalf("step %d (%s %s): %v", i+1, s.method, s.path, err)
				}
				if d != "" {
					t.Errorf("step %d (%s %s) differs:\n    %s", i+1, s.method, s.path, d)
				}
			}
		})
	}
}
