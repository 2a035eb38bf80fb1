package nomad

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// fakeChecker answers from a table: policy -> path -> capabilities.
type fakeChecker struct {
	mu     sync.Mutex
	grants map[string]map[string][]string
	err    error
	calls  []string
}

func (f *fakeChecker) CheckCapabilities(_ context.Context, policies []string, path string) ([]string, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%v %s", policies, path))
	if f.err != nil {
		return nil, nil, f.err
	}
	set := map[string]bool{}
	var by []string
	for _, p := range policies {
		caps := f.grants[p][path]
		for _, c := range caps {
			set[c] = true
		}
		if len(caps) > 0 && !slices.Contains(caps, "deny") {
			by = append(by, p)
		}
	}
	var caps []string
	for c := range set {
		caps = append(caps, c)
	}
	sort.Strings(caps)
	if len(caps) == 0 {
		caps = []string{"deny"}
	}
	return caps, by, nil
}

// notYetKnownErr is how the vault module's checker says a check cannot be answered in
// this plan (offline, or Vault initialised only at apply).
type notYetKnownErr struct{ error }

func (notYetKnownErr) NotYetKnown() bool { return true }

// closedAddr is an address where nothing listens: Nomad unreachable.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestPreflightTemplates(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": guideVars + guideJobs + "\nnomad.run(web_job)\n"})
	granted := &fakeChecker{grants: map[string]map[string][]string{"access-tables": {"database/creds/accessdb": {"read"}}}}
	tests := []struct {
		name    string
		checker *fakeChecker
		mode    runtime.Mode
		offline bool
		wantErr string
		want    []string
		warn    string
		run     string // extra nomad.run arguments
	}{
		{name: "granted", checker: granted, mode: runtime.Plan, offline: true,
			want: []string{"+  nomad job \"nomad-vault-demo\"", "# template reads database/creds/accessdb: granted by access-tables", `# job "nomad-vault-demo" {`}},
		{name: "denied", checker: &fakeChecker{grants: map[string]map[string][]string{"access-tables": {"database/creds/other": {"read"}}}}, mode: runtime.Plan, offline: true,
			wantErr: `nomad job "nomad-vault-demo": template reads database/creds/accessdb: not granted by [access-tables] (capabilities: [deny])`},
		{name: "list only is not read", checker: &fakeChecker{grants: map[string]map[string][]string{"access-tables": {"database/creds/accessdb": {"list"}}}}, mode: runtime.Plan, offline: true,
			wantErr: `not granted by [access-tables] (capabilities: [list])`},
		{name: "denied in apply before Nomad is read", checker: &fakeChecker{}, mode: runtime.Apply,
			wantErr: `template reads database/creds/accessdb: not granted by [access-tables] (capabilities: [deny])`},
		{name: "no checker offline", mode: runtime.Plan, offline: true,
			want: []string{"# template reads database/creds/accessdb: check skipped (offline plan: Vault is not read)"}},
		{name: "no checker live", mode: runtime.Plan,
			want: []string{"# template reads database/creds/accessdb: check skipped (no Vault capability checker in this run (the vault module is not loaded))"},
			warn: "cannot reach Nomad"},
		// A check that cannot be made fails closed, in plan and apply, unless the script
		// opts out; one that cannot be answered before apply is a note in a plan only.
		{name: "checker fails", checker: &fakeChecker{err: errors.New("vault sealed")}, mode: runtime.Plan, offline: true,
			wantErr: `template reads database/creds/accessdb: the Vault capability check failed: vault sealed (to go ahead without the check, pass check_templates = "warn" to nomad.run)`},
		{name: "checker fails in apply", checker: &fakeChecker{err: errors.New("vault sealed")}, mode: runtime.Apply,
			wantErr: `template reads database/creds/accessdb: the Vault capability check failed: vault sealed`},
		{name: "checker fails, warn", checker: &fakeChecker{err: errors.New("vault sealed")}, mode: runtime.Plan, offline: true, run: `check_templates = "warn"`,
			want: []string{"# template reads database/creds/accessdb: check skipped (vault sealed)"}, warn: `the Vault capability check failed: vault sealed; going ahead unchecked (check_templates = "warn")`},
		{name: "not known before apply", checker: &fakeChecker{err: notYetKnownErr{errors.New("Vault is initialised at apply")}}, mode: runtime.Plan, offline: true,
			want: []string{"# template reads database/creds/accessdb: check skipped until apply (Vault is initialised at apply)"}},
		{name: "not known in apply", checker: &fakeChecker{err: notYetKnownErr{errors.New("Vault is initialised at apply")}}, mode: runtime.Apply,
			wantErr: `the Vault capability check failed: Vault is initialised at apply`},
		{name: "bad check_templates", checker: granted, mode: runtime.Plan, offline: true, run: `check_templates = "off"`,
			wantErr: `check_templates: "off" is not "fail" or "warn"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runConfig{mode: tc.mode, offline: tc.offline, env: []string{"NOMAD_ADDR=" + closedAddr(t)}}
			if tc.checker != nil {
				cfg.modules = []runtime.Module{provider("vault.capabilities", tc.checker)}
			}
			script := script
			if tc.run != "" {
				script = runtimetest.Script(t, map[string]string{"main.star": guideVars + guideJobs + "\nnomad.run(web_job, " + tc.run + ")\n"})
			}
			r := runScript(t, script, cfg)
			if tc.wantErr != "" {
				if r.Err == nil {
					t.Fatalf("no error; plan:\n%s", r.Plan)
				}
				mustContain(t, "error", r.ErrMsg, tc.wantErr)
				mustNotContain(t, "error", r.ErrMsg, "cannot reach")
				for _, rec := range r.Res.Records {
					t.Errorf("something was recorded: %+v", rec)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.ErrMsg)
			}
			mustContain(t, "plan", r.Plan, tc.want...)
			if tc.warn != "" {
				mustContain(t, "warnings", strings.Join(r.Res.Warnings, "\n"), tc.warn)
			}
			if tc.checker != nil && tc.checker.err == nil {
				if got := strings.Join(tc.checker.calls, ";"); got != "[access-tables] database/creds/accessdb" {
					t.Errorf("checker calls: %s", got)
				}
			}
		})
	}
}

func TestPreflightSeveralTasks(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": `
def task(name, path):
    return nomad.task(name, driver = "raw_exec", config = {"command": "/bin/true"},
        vault = nomad.vault(policies = ["p-" + name]),
        templates = [nomad.template(data = '{{ with secret "%s" }}{{ .Data.x }}{{ end }}' % path, destination = "secrets/x")])
nomad.run(nomad.job("two", groups = [nomad.group("g", tasks = [task("a", "kv/a"), task("b", "kv/b")])]))
`})
	checker := &fakeChecker{grants: map[string]map[string][]string{"p-a": {"kv/a": {"read"}}, "p-b": {"kv/a": {"read"}}}}
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true, modules: []runtime.Module{provider("vault.capabilities", checker)}})
	if r.Err == nil {
		t.Fatal("no error")
	}
	mustContain(t, "error", r.ErrMsg, `group "g" task "b": template reads kv/b: not granted by [p-b] (capabilities: [deny])`)
	mustNotContain(t, "error", r.ErrMsg, `task "a": template reads kv/a: not granted`)
}

func TestPreflightIgnoresTasksWithoutVault(t *testing.T) {
	script := runtimetest.Script(t, map[string]string{"main.star": `
nomad.run(nomad.job("j", groups = [nomad.group("g", tasks = [nomad.task("t", driver = "raw_exec",
    templates = [nomad.template(data = '{{ with secret "kv/a" }}{{ end }}', destination = "local/x")])])]))
`})
	checker := &fakeChecker{}
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true, modules: []runtime.Module{provider("vault.capabilities", checker)}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if len(checker.calls) != 0 {
		t.Errorf("checked a task without a vault block: %v", checker.calls)
	}
}

func TestGuideTemplateAsPrintedFailsPreflight(t *testing.T) {
	jobs := strings.Replace(guideJobs, "{{- /* Ensure", "{{ /* Ensure", 1)
	jobs = strings.Replace(jobs, "string. */}}", "string. */ }}", 1)
	script := runtimetest.Script(t, map[string]string{"main.star": guideVars + jobs + "\nnomad.run(web_job)\n"})
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true})
	if r.Err == nil {
		t.Fatal("no error")
	}
	mustContain(t, "error", r.ErrMsg, `nomad job "nomad-vault-demo": group "demo" task "server" template secrets/config.json: parse:`, `unexpected "/" in command`)
}
