package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/faultproxy"
	"github.com/nvrun/nvrun/internal/testserver"
)

// --parallelism N: a live plan reads up to N resources at a time per server. 0, a
// negative number or a non-number is a usage error: exit 2, or 1 under
// --detailed-exitcode, as every usage error.
func TestParallelismFlag(t *testing.T) {
	script := writeScript(t, "x = 1\n")
	for _, bad := range []string{"0", "-1", "x"} {
		res := nvrun(t, nil, nil, "--plan", "--parallelism", bad, script)
		if res.code != 2 || !strings.Contains(res.stderr, "--parallelism") || !strings.Contains(res.stderr, "usage: nvrun") {
			t.Errorf("--parallelism %s: exit %d, want 2 naming the flag\n%s", bad, res.code, res.stderr)
		}
		if res := nvrun(t, nil, nil, "--plan", "--detailed-exitcode", "--parallelism", bad, script); res.code != 1 {
			t.Errorf("--parallelism %s --detailed-exitcode: exit %d, want 1\n%s", bad, res.code, res.stderr)
		}
	}
	for _, good := range []string{"1", "10", "64"} {
		if res := nvrun(t, nil, nil, "--plan", "--parallelism", good, script); res.code != 0 {
			t.Errorf("--parallelism %s: exit %d\n%s", good, res.code, res.stderr)
		}
	}
}

// readAheadVault is a real Vault behind a fault-injecting proxy, holding half of the
// policies and token roles of a generated script, a third of those with other contents.
type readAheadVault struct {
	t      *testing.T
	proxy  *faultproxy.Proxy
	env    []string
	script string
}

// readAheadN is how many policies (and as many token roles) the generated script has.
const readAheadN = 150

func newReadAheadVault(t *testing.T) *readAheadVault {
	t.Helper()
	v, root, err := testserver.StartVaultUnsealed(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	p, err := faultproxy.New(v.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r := &readAheadVault{t: t, proxy: p,
		env: []string{"VAULT_ADDR=" + p.URL, "VAULT_TOKEN=" + root, "VAULT_CLIENT_TIMEOUT=3s",
			"NVRUN_KEYS_FILE=" + t.TempDir() + "/keys.json", "HOME=/nonexistent"}}
	// Seed: every other name exists, every third of those with other contents.
	var seed, want strings.Builder
	seed.WriteString("step('seed')\n")
	want.WriteString("step('policies')\n")
	for i := range readAheadN {
		fmt.Fprintf(&want, "vault.policy('ra-%d', {'secret/ra/%d': ['read']})\n", i, i)
		if i%2 == 0 {
			caps := "read"
			if i%3 == 0 {
				caps = "list"
			}
			fmt.Fprintf(&seed, "vault.policy('ra-%d', {'secret/ra/%d': ['%s']})\n", i, i, caps)
			fmt.Fprintf(&seed, "vault.token_role('ra-%d', allowed_policies = ['ra-%d'], orphan = %s)\n", i, i, map[bool]string{true: "True", false: "False"}[i%3 != 0])
		}
	}
	want.WriteString("step('token roles')\n")
	for i := range readAheadN {
		fmt.Fprintf(&want, "vault.token_role('ra-%d', allowed_policies = ['ra-%d'], orphan = True)\n", i, i)
	}
	// A script error after the last read (tail=error) comes after it: a failed read wins.
	want.WriteString("if var('tail', 'print') == 'print':\n    print('done')\nelse:\n    {}['no such key']\n")
	if res := nvrun(t, nil, r.env, writeScript(t, seed.String())); res.code != 0 {
		t.Fatalf("seed: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	r.script = writeScript(t, want.String())
	return r
}

// plan runs a live plan of the script with args, through the proxy.
func (r *readAheadVault) plan(args ...string) cli {
	r.t.Helper()
	return nvrun(r.t, nil, r.env, append(append([]string{"--plan"}, args...), r.script)...)
}

// A plan read ahead (the default --parallelism 10, and 3) is the sequential one
// (--parallelism 1) byte for byte, text and --json, exit code and error: with Vault
// answering everything, refusing one read (403), failing one for good (500), or
// holding one until the client gives up (a Vault that stops answering mid-way).
func TestReadAheadPlanIsTheSequentialPlan(t *testing.T) {
	r := newReadAheadVault(t)
	policy := func(i int) string { return fmt.Sprintf("/v1/sys/policies/acl/ra-%d", i) }
	role := func(i int) string { return fmt.Sprintf("/v1/auth/token/roles/ra-%d", i) }
	cases := []struct {
		name  string
		fault *faultproxy.Fault
		code  int
		want  string   // in the output of every run
		args  []string // more arguments for every run
	}{
		{"answered", nil, 0, "ra-3", nil},
		{"403 on one policy", &faultproxy.Fault{Method: "GET", Path: policy(60), Status: 403, Body: `{"errors":["permission denied"]}`},
			1, "permission denied by Vault", nil},
		{"500 on one role, for good", &faultproxy.Fault{Method: "GET", Path: role(90), Status: 500, Body: `{"errors":["storage is on fire"]}`},
			1, "storage is on fire", nil},
		{"403 on the last role, then a script error", &faultproxy.Fault{Method: "GET", Path: role(readAheadN - 2), Status: 403, Body: `{"errors":["permission denied"]}`},
			1, "permission denied by Vault", []string{"--var", "tail=error"}},
		{"timed out with every policy read held", &faultproxy.Fault{Method: "GET", Path: "/v1/sys/policies/acl/*", Hold: true},
			1, "timed out", []string{"--timeout", "1s"}},
		{"a destroy plan (reads one by one)", nil, 0, "ra-2", []string{"--destroy"}},
		{"a script error after the reads", nil, 1, `key "no such key" not in dict`, []string{"--var", "tail=error"}},
		{"one policy read never answered", &faultproxy.Fault{Method: "GET", Path: policy(40), Hold: true},
			1, "context deadline exceeded", nil},
		{"connection reset at one policy: vault unreachable from there on", &faultproxy.Fault{Method: "GET", Path: policy(40), Reset: true},
			0, "vault is unreachable", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var runs []cli
			for _, args := range [][]string{{"--parallelism", "1"}, nil, {"--parallelism", "3"}} {
				for _, js := range []bool{false, true} {
					r.proxy.Clear()
					if c.fault != nil {
						r.proxy.Add(*c.fault)
					}
					a := append(slices.Clone(args), c.args...)
					if js {
						a = append(a, "--json")
					}
					res := r.plan(a...)
					if res.code != c.code || !strings.Contains(res.stdout+res.stderr, c.want) {
						t.Fatalf("%v: exit %d, want %d with %q\n%s%s", a, res.code, c.code, c.want, res.stdout, res.stderr)
					}
					if c.fault != nil && c.code == 1 && strings.Contains(res.stdout+res.stderr, "not in dict") {
						t.Fatalf("%v: the script error after the failed read is reported\n%s", a, res.stderr)
					}
					runs = append(runs, res)
				}
			}
			for i := 2; i < len(runs); i++ {
				seq := runs[i%2]
				if ports(runs[i].stdout) != ports(seq.stdout) || ports(runs[i].stderr) != ports(seq.stderr) {
					t.Errorf("run %d differs from the sequential one:\n--- read ahead\n%s%s\n--- sequential\n%s%s",
						i, runs[i].stdout, runs[i].stderr, seq.stdout, seq.stderr)
				}
			}
		})
	}
}

// ports hides the client's ephemeral port in a network error ("read tcp
// 127.0.0.1:54321->127.0.0.1:8200"), which differs from run to run whatever the order.
// (in JSON, "->" is "-\u003e").
func ports(s string) string { return ephemeral.ReplaceAllString(s, "127.0.0.1:PORT$1") }

var ephemeral = regexp.MustCompile(`127\.0\.0\.1:\d+(->|-\\u003e)`)

// Reads ahead really overlap: with every read delayed, the proxy sees more than one in
// flight, never more than --parallelism; --parallelism 1 never overlaps.
func TestReadAheadOverlapsUpToParallelism(t *testing.T) {
	r := newReadAheadVault(t)
	for _, c := range []struct {
		args     []string
		min, max int
	}{
		{[]string{"--parallelism", "1"}, 1, 1},
		{nil, 2, 10},
		{[]string{"--parallelism", "4"}, 2, 4},
	} {
		r.proxy.Clear()
		r.proxy.Add(faultproxy.Fault{Method: "GET", Path: "/v1/sys/policies/acl/*", Latency: 20 * time.Millisecond})
		r.proxy.MaxInFlight()
		if res := r.plan(c.args...); res.code != 0 {
			t.Fatalf("%v: exit %d\n%s", c.args, res.code, res.stderr)
		}
		if n := r.proxy.MaxInFlight(); n < c.min || n > c.max {
			t.Errorf("%v: %d requests in flight at most, want %d to %d", c.args, n, c.min, c.max)
		}
	}
}

// A read ahead that Vault answers 503, then 429 (with a Retry-After), then properly is
// retried: the plan is the one an answering Vault gives. One answered 500 for good
// fails after the capped attempts (5) with Vault's own error; one by one, a read is
// never retried.
func TestReadAheadRetries(t *testing.T) {
	r := newReadAheadVault(t)
	path := "/v1/sys/policies/acl/ra-30"
	r.proxy.Clear()
	clean := r.plan("--parallelism", "1")
	if clean.code != 0 {
		t.Fatalf("exit %d\n%s", clean.code, clean.stderr)
	}

	r.proxy.Add(faultproxy.Fault{Method: "GET", Path: path, Status: 429, Times: 1, Body: `{"errors":["request path \"sys/policies/acl/ra-30\": rate limit quota exceeded"]}`,
		Header: http.Header{"Retry-After": {"1"}}})
	r.proxy.Add(faultproxy.Fault{Method: "GET", Path: path, Status: 503, Times: 1, Body: `{"errors":["standby is busy"]}`})
	res := r.plan()
	if res.code != 0 || res.stdout != clean.stdout {
		t.Fatalf("503 then 429 then answered: exit %d\n%s%s\nwant:\n%s", res.code, res.stdout, res.stderr, clean.stdout)
	}
	if h := r.proxy.Hits(); h != 2 {
		t.Errorf("faults hit %d times, want 2 (one retry each)", h)
	}

	for _, c := range []struct {
		args []string
		hits int
	}{{nil, 5}, {[]string{"--parallelism", "1"}, 1}} {
		r.proxy.Clear()
		r.proxy.Add(faultproxy.Fault{Method: "GET", Path: path, Status: 500, Body: `{"errors":["storage is on fire"]}`})
		res := r.plan(c.args...)
		if res.code != 1 || !strings.Contains(res.stderr, "answered 500 to GET sys/policies/acl/ra-30: storage is on fire") {
			t.Errorf("%v: 500 for good: exit %d\n%s", c.args, res.code, res.stderr)
		}
		if h := r.proxy.Hits(); h != c.hits {
			t.Errorf("%v: 500 for good: %d attempts, want %d", c.args, h, c.hits)
		}
	}
}

// A Vault that stops answering after some requests: read ahead, which reads come first
// is not the script's order, so the plan cannot be compared with a sequential one; but
// it must be one a sequential plan could give: records read, then (from the first
// unread one on) every later record unread, and one warning.
func TestReadAheadVaultStopsAnswering(t *testing.T) {
	r := newReadAheadVault(t)
	r.proxy.Add(faultproxy.Fault{Method: "GET", Path: "/v1/*", Reset: true, After: 40})
	res := r.plan("--json")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	var doc struct {
		Steps []struct {
			Records []struct {
				Address, Action string
				Notes           []string
			}
		}
		Warnings []string
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	read, unread := 0, 0
	for _, s := range doc.Steps {
		for _, rec := range s.Records {
			if slices.Contains(rec.Notes, "offline: live state not read; shown as a create") {
				unread++
				continue
			}
			read++
			if unread > 0 {
				t.Errorf("%s was read (%s) after %d unread records", rec.Address, rec.Action, unread)
			}
		}
	}
	if read == 0 || unread == 0 || read+unread != 2*readAheadN {
		t.Errorf("%d records read and %d unread, want some of each, %d in all", read, unread, 2*readAheadN)
	}
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0], "vault is unreachable") {
		t.Errorf("warnings: %q, want one: vault is unreachable", doc.Warnings)
	}
}

// A plan saved read ahead (--out) records what a sequential one records, fingerprints
// included, and --apply-plan applies it.
func TestReadAheadSavedPlan(t *testing.T) {
	r := newReadAheadVault(t)
	dir := t.TempDir()
	saved := map[string][]json.RawMessage{}
	for _, p := range []string{"1", "10"} {
		file := dir + "/plan-" + p + ".json"
		if res := r.plan("--parallelism", p, "--out", file); res.code != 0 {
			t.Fatalf("--parallelism %s --out: exit %d\n%s", p, res.code, res.stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		saved[p] = doc.Records
	}
	if len(saved["1"]) != 2*readAheadN || fmt.Sprint(saved["1"]) != fmt.Sprint(saved["10"]) {
		t.Fatalf("saved records read ahead differ from the sequential ones (%d and %d records)", len(saved["10"]), len(saved["1"]))
	}
	if !strings.Contains(string(saved["10"][2]), `"fingerprint"`) {
		t.Fatalf("saved records carry no fingerprint: %s", saved["10"][2])
	}
	if res := nvrun(t, nil, r.env, "--apply-plan", dir+"/plan-10.json"); res.code != 0 {
		t.Fatalf("--apply-plan of the plan read ahead: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := r.plan("--detailed-exitcode"); res.code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0\n%s", res.code, res.stdout)
	}
}
