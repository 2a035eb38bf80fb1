package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/internal/faultproxy"
	"github.com/nvrun/nvrun/internal/localstack"
)

// faultRun is the guide against a local stack whose Vault, Nomad and Consul HTTP APIs
// are each behind a fault-injecting proxy.
type faultRun struct {
	t       *testing.T
	stack   *localstack.Stack
	proxies map[string]*faultproxy.Proxy // by the env var that points nvrun at it
	base    []string
	regs    map[string]int // registrations before the current case
	last    []string       // the args of the last run that converged
}

func newFaultRun(t *testing.T, stack *localstack.Stack) *faultRun {
	t.Helper()
	f := &faultRun{t: t, stack: stack, proxies: map[string]*faultproxy.Proxy{}}
	for env, target := range map[string]string{
		"VAULT_ADDR":       stack.Vault.Addr,
		"NOMAD_ADDR":       stack.Nomad.URL,
		"CONSUL_HTTP_ADDR": stack.Consul.HTTPAddr,
	} {
		p, err := faultproxy.New(target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		f.proxies[env] = p
	}
	for _, vf := range stack.VarFiles() {
		f.base = append(f.base, "--var-file", vf)
	}
	return f
}

// run runs the guide in-process with extra args.
func (f *faultRun) run(args ...string) cli {
	f.t.Helper()
	env := f.stack.Env()
	for k, p := range f.proxies {
		env = append(env, k+"="+p.URL) // later entries win
	}
	return nvrun(f.t, nil, env, append(append(slices.Clone(f.base), args...), "scripts/guide.star")...)
}

// converge runs the guide and fails the test unless it succeeds.
func (f *faultRun) converge(what string, args ...string) cli {
	f.t.Helper()
	res := f.run(args...)
	if res.code != 0 {
		f.t.Fatalf("%s: exit %d\n%s%s", what, res.code, res.stdout, res.stderr)
	}
	f.last = args
	return res
}

// forkServer renames what steps 4-7 write (policy, token role, hence a new server
// token and agent config): a run of it writes to Vault and the agent config, and
// leaves the jobs as they are.
func forkServer(name string) []string {
	return []string{"--var", "token_role=nomad-" + name, "--var", "server_policy=nomad-server-" + name}
}

// forkTask renames the task policy and the DB role: a run of it writes to Vault and
// updates the web job.
func forkTask(name string) []string {
	return []string{"--var", "task_policy=access-" + name, "--var", "db_role=access" + name}
}

// vaultStatus sends a Vault path with the root token, directly (not through the proxy).
func (f *faultRun) vaultStatus(method, path string, body any) int {
	f.t.Helper()
	var keys struct {
		RootToken string `json:"root_token"`
	}
	raw, err := os.ReadFile(f.stack.KeysFile)
	if err != nil || json.Unmarshal(raw, &keys) != nil {
		f.t.Fatalf("keys file unreadable: %v", err)
	}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, f.stack.Vault.Addr+"/v1/"+path, rd)
	req.Header.Set("X-Vault-Token", keys.RootToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestGuideFaults runs the guide against faults from each server, one at a time: an
// HTTP 500, an answer cut off after a few bytes, and a server too slow for --timeout;
// and with Vault sealed between two applies. Each faulty run must fail with an error
// naming the builtin and the server's error, leave nothing half-written, and a plain
// re-run must converge.
func TestGuideFaults(t *testing.T) {
	start := time.Now()
	stack, err := localstack.Start("", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	f := newFaultRun(t, stack)
	f.converge("first apply")
	t.Logf("first apply: %s", time.Since(start).Round(100*time.Millisecond))

	t.Run("vault sealed between two applies", func(t *testing.T) {
		if code := f.vaultStatus(http.MethodPut, "sys/seal", nil); code != http.StatusNoContent {
			t.Fatalf("seal: HTTP %d", code)
		}
		res := f.converge("apply on a sealed Vault")
		if !strings.Contains(res.stdout, `vault unseal`) || f.vaultStatus(http.MethodGet, "sys/health", nil) != http.StatusOK {
			t.Fatalf("the apply did not unseal Vault:\n%s", res.stdout)
		}
	})

	cases := []struct {
		name   string
		server string // env var of the proxy
		fault  faultproxy.Fault
		args   []string // nil: those of the last run that converged
		// The error names the builtin, the server's own error, and the step.
		want []string
		// nothing half-written, checked right after the faulty run
		check func(t *testing.T, configBefore []byte)
		// checked after the re-run that converges
		rerun func(t *testing.T, res cli)
	}{
		{
			name: "vault 500", server: "VAULT_ADDR", args: forkServer("f1"),
			fault: faultproxy.Fault{Method: http.MethodPut, Path: "/v1/sys/policies/acl/nomad-server-f1", Status: 500, Body: `{"errors":["injected internal error"]}`},
			want:  []string{"step 4 (", "Error in vault.policy", `vault policy "nomad-server-f1"`, "answered 500", "injected internal error"},
			check: func(t *testing.T, before []byte) {
				f.sameConfig(t, before)
				if code := f.vaultStatus(http.MethodGet, "sys/policies/acl/nomad-server-f1", nil); code != http.StatusNotFound {
					t.Errorf("policy nomad-server-f1: HTTP %d after a refused write, want 404", code)
				}
			},
		},
		{
			name: "vault answer cut off", server: "VAULT_ADDR", args: forkServer("f2"),
			// Vault mints the token; its answer is lost after 20 bytes.
			fault: faultproxy.Fault{Path: "/v1/auth/token/create*", Truncate: 20},
			want:  []string{"step 6 (", "Error in vault.token", `vault token "nomad-server-f2"`, "cut its answer off (unexpected EOF): a write may have been applied"},
			check: func(t *testing.T, before []byte) { f.sameConfig(t, before) },
		},
		{
			name: "vault connection dropped after the write", server: "VAULT_ADDR", args: forkServer("f6"),
			// Vault stores the role; the connection drops before its answer.
			fault: faultproxy.Fault{Method: http.MethodPut, Path: "/v1/auth/token/roles/nomad-f6", Forward: true, Drop: true},
			want:  []string{"step 5 (", "Error in vault.token_role", `vault token role "nomad-f6"`, "cut its answer off (EOF)"},
			check: func(t *testing.T, before []byte) {
				f.sameConfig(t, before)
				if code := f.vaultStatus(http.MethodGet, "auth/token/roles/nomad-f6", nil); code != http.StatusOK {
					t.Errorf("role nomad-f6: HTTP %d, want 200 (the write reached Vault)", code)
				}
			},
			rerun: func(t *testing.T, res cli) {
				if !strings.Contains(res.stdout, `= vault token role "nomad-f6"`) {
					t.Errorf("the re-run did not find the role as asked:\n%s", res.stdout)
				}
			},
		},
		{
			name: "nomad 500", server: "NOMAD_ADDR", args: forkTask("f3"),
			fault: faultproxy.Fault{Method: http.MethodPut, Path: "/v1/jobs", Status: 500, Body: "injected: rpc error: leader unavailable"},
			want:  []string{"step 14 (", "Error in nomad.run", `nomad job "nomad-vault-demo"`, "500", "injected: rpc error: leader unavailable"},
			check: func(t *testing.T, _ []byte) { f.sameRegistrations(t, "nomad-vault-demo", 0) },
			rerun: func(t *testing.T, _ cli) { f.sameRegistrations(t, "nomad-vault-demo", 1) },
		},
		{
			name: "nomad register answer cut off", server: "NOMAD_ADDR", args: forkTask("f4"),
			// Nomad registers the job; its answer is lost. The re-run finds the job as
			// asked, and must wait for it to be healthy.
			fault: faultproxy.Fault{Method: http.MethodPut, Path: "/v1/jobs", Truncate: 10},
			want:  []string{"step 14 (", "Error in nomad.run", `nomad job "nomad-vault-demo"`, "register: Nomad's answer was cut off (unexpected EOF)"},
			check: func(t *testing.T, _ []byte) { f.sameRegistrations(t, "nomad-vault-demo", 1) },
			rerun: func(t *testing.T, res cli) {
				f.sameRegistrations(t, "nomad-vault-demo", 1)
				if !strings.Contains(res.stdout, `= nomad job "nomad-vault-demo"`) {
					t.Errorf("the re-run did not find the job as asked:\n%s", res.stdout)
				}
			},
		},
		{
			name: "consul 500", server: "CONSUL_HTTP_ADDR",
			fault: faultproxy.Fault{Path: "/v1/health/service/nomad-vault-demo", Status: 500, Body: "injected: No cluster leader"},
			want:  []string{"step 15 (", "Error in consul.wait", `consul health "nomad-vault-demo"`, "500", "injected: No cluster leader"},
		},
		{
			name: "consul answer cut off", server: "CONSUL_HTTP_ADDR",
			fault: faultproxy.Fault{Path: "/v1/health/service/nomad-vault-demo", Truncate: 10},
			want:  []string{"step 15 (", "Error in consul.wait", `consul health "nomad-vault-demo"`, "unexpected EOF"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args == nil {
				args = f.last
			}
			f.regs = map[string]int{"nomad-vault-demo": stack.Nomad.Registrations("nomad-vault-demo")}
			before, _ := os.ReadFile(stack.AgentConfig)
			p := f.proxies[c.server]
			p.Add(c.fault)
			res := f.run(args...)
			p.Clear()
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
			}
			t.Logf("%s", whereStopped(res.stderr))
			for _, w := range c.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, res.stderr)
				}
			}
			if c.check != nil {
				c.check(t, before)
			}
			res = f.converge("re-run after "+c.name, args...)
			if c.rerun != nil {
				c.rerun(t, res)
			}
		})
	}

	t.Run("latency past --timeout", func(t *testing.T) {
		// Step 13's read of the task policy gets no answer in time: the run stops
		// there, and still revokes step 12's lease. (10s is ample for steps 1-12 of a
		// run that changes nothing; the run takes that long, as a timeout does.)
		p := f.proxies["VAULT_ADDR"]
		p.Add(faultproxy.Fault{Method: http.MethodGet, Path: "/v1/sys/policies/acl/access-f4", Latency: time.Hour})
		res := f.run(append(slices.Clone(f.last), "--timeout", "10s")...)
		p.Clear()
		out := res.stdout + res.stderr
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, out)
		}
		for _, w := range []string{"timed out (--timeout 10s) during step 13 (", `not done: vault policy "access-f4" (scripts/guide.star:`, "context deadline exceeded", "Re-run the same command"} {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("the error does not say %q:\n%s", w, out)
			}
		}
		m := revokeLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the timed-out run did not revoke step 12's lease:\n%s", out)
		}
		if leaseExists(t, stack, m[1]) {
			t.Errorf("lease %s is still in Vault after the timed-out run", m[1])
		}
		f.converge("re-run after the timeout", f.last...)
	})

	t.Run("http target 500 and cut-off answer", func(t *testing.T) {
		f.httpFaults(t)
	})

	if res := f.run(append(slices.Clone(f.last), "--plan", "--detailed-exitcode")...); res.code != 0 {
		t.Fatalf("the guide did not converge: plan exits %d\n%s", res.code, res.stdout)
	}
	e := &e2e{t: t, stack: stack}
	e.checkNamesPage()
	t.Logf("wall time: %s", time.Since(start).Round(100*time.Millisecond))
}

func (f *faultRun) sameConfig(t *testing.T, before []byte) {
	t.Helper()
	if now, _ := os.ReadFile(f.stack.AgentConfig); !bytes.Equal(now, before) {
		t.Errorf("the failed run changed the agent config")
	}
}

// sameRegistrations: the job was registered n more times than before the faulty run.
func (f *faultRun) sameRegistrations(t *testing.T, job string, n int) {
	t.Helper()
	if got := f.stack.Nomad.Registrations(job) - f.regs[job]; got != n {
		t.Errorf("%s: %d registrations in the faulty run, want %d", job, got, n)
	}
}

// httpFaults puts a proxy in front of the demo app (found through Consul, as step 15
// finds it) and reads its /names page as step 15 does, without the retry.
func (f *faultRun) httpFaults(t *testing.T) {
	var entries []struct {
		Service struct {
			Address string
			Port    int
		}
	}
	e := &e2e{t: t, stack: f.stack}
	e.getJSON(f.stack.Consul.HTTPAddr+"/v1/health/service/nomad-vault-demo?passing=true", "", &entries)
	if len(entries) != 1 {
		t.Fatalf("%d passing nomad-vault-demo instances, want 1", len(entries))
	}
	p, err := faultproxy.New(fmt.Sprintf("%s:%d", entries[0].Service.Address, entries[0].Service.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	script := writeScript(t, `url = var("url", "")
step("Confirm the application is accessing the database")
http.get(url, contains = ["John Doe", "Mary Jane"])
`)
	args := []string{"--var", "url=" + p.URL + "/names", script}
	for _, c := range []struct {
		name  string
		fault faultproxy.Fault
		want  []string
	}{
		{"500", faultproxy.Fault{Path: "/names", Status: 500, Body: "injected: database is down"}, []string{"Error in http.get", "500", "injected: database is down"}},
		{"cut off", faultproxy.Fault{Path: "/names", Truncate: 30}, []string{"Error in http.get", "unexpected EOF"}},
	} {
		p.Add(c.fault)
		res := nvrun(t, nil, f.stack.Env(), args...)
		p.Clear()
		if res.code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s%s", c.name, res.code, res.stdout, res.stderr)
		}
		for _, w := range append(c.want, "step 1 (", "http GET") {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("%s: the error does not say %q:\n%s", c.name, w, res.stderr)
			}
		}
		if res := nvrun(t, nil, f.stack.Env(), args...); res.code != 0 {
			t.Fatalf("re-run after %s: exit %d\n%s%s", c.name, res.code, res.stdout, res.stderr)
		}
	}
}
