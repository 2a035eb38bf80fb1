package nomadtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	ctconfig "github.com/hashicorp/consul-template/config"
	"github.com/hashicorp/consul-template/manager"
	"github.com/hashicorp/nomad/api"
)

// renderTemplates renders the task's templates once, before the task starts, with
// consul-template against Vault (the task's token) and Consul, as Nomad's template hook
// does for the first render. change_mode is not acted upon: the double renders once.
// It returns the variables of env templates, or the failure event, or killed.
func (tr *taskRunner) renderTemplates(env map[string]string) (map[string]string, *api.TaskEvent, bool) {
	cfg, dests, err := tr.templateConfig(env)
	if err != nil {
		return nil, hookFailed(err), false
	}
	runner, err := manager.NewRunner(cfg, false)
	if err != nil {
		return nil, hookFailed(err), false
	}
	// The runner takes the task environment for the env function, as Nomad's does.
	runner.Env = env
	go runner.Start()
	defer func() {
		runner.Stop()
		// Start may still be blocked handing an error over; take it so it can return.
		go func() {
			select {
			case <-runner.ErrCh:
			case <-time.After(time.Minute):
			}
		}()
	}()

	timeout := time.NewTimer(tr.s.cfg.TemplateTimeout)
	defer timeout.Stop()
	missing := time.NewTicker(5 * time.Second)
	defer missing.Stop()
	var lastServerErr error
	for {
		select {
		case <-runner.DoneCh:
			extra, err := readEnvTemplates(tr.task, dests)
			if err != nil {
				return nil, templateFailed(err), false
			}
			return extra, nil, false
		case err := <-runner.ErrCh:
			return nil, templateFailed(err), false
		case err := <-runner.ServerErrCh:
			lastServerErr = err
		case <-missing.C:
			if deps := missingDeps(runner); deps != "" {
				ev := newEvent(taskTemplateEvent, "Missing: "+deps)
				tr.emit(ev)
			}
		case <-timeout.C:
			why := fmt.Sprintf("timed out after %v waiting for the first render", tr.s.cfg.TemplateTimeout)
			if deps := missingDeps(runner); deps != "" {
				why += "; missing: " + deps
			}
			if lastServerErr != nil {
				why += "; last error: " + lastServerErr.Error()
			}
			return nil, templateFailed(fmt.Errorf("%s", why)), false
		case <-tr.killCh:
			return nil, nil, true
		}
	}
}

func hookFailed(err error) *api.TaskEvent {
	msg := "template: " + err.Error()
	ev := newEvent(taskHookFailed, msg)
	ev.Message = msg
	ev.Details["message"] = msg
	return ev
}

func templateFailed(err error) *api.TaskEvent {
	return newEvent(api.TaskKilling, fmt.Sprintf("Template failed: %v", err))
}

// missingDeps lists the dependencies the templates still wait for, as Nomad's
// "Missing: ..." template event does.
func missingDeps(r *manager.Runner) string {
	var names []string
	for _, ev := range r.RenderEvents() {
		if ev.MissingDeps == nil {
			continue
		}
		for _, d := range ev.MissingDeps.List() {
			names = append(names, d.String())
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// templateConfig builds the consul-template configuration Nomad's template manager
// builds: sandboxed in the task dir, plugin and writeToFile denied, the task's Vault
// token, Consul at the configured address.
func (tr *taskRunner) templateConfig(env map[string]string) (*ctconfig.Config, []string, error) {
	cfg := ctconfig.DefaultConfig()
	cfg.Once = true
	vc, err := tr.s.readVaultConfig()
	if err != nil {
		return nil, nil, err
	}
	retry := func(attempts int) *ctconfig.RetryConfig {
		return &ctconfig.RetryConfig{
			Enabled: new(true), Attempts: new(attempts),
			Backoff: new(250 * time.Millisecond), MaxBackoff: new(time.Second),
		}
	}
	tr.mu.Lock()
	token := tr.vault.token
	tr.mu.Unlock()
	if token != "" {
		cfg.Vault.Enabled = new(true)
		cfg.Vault.Address = new(vc.address())
		cfg.Vault.Token = new(token)
		cfg.Vault.RenewToken = new(false)
		cfg.Vault.UnwrapToken = new(false)
		cfg.Vault.Namespace = new(tr.vaultNamespace())
		cfg.Vault.Retry = retry(3)
	} else {
		cfg.Vault.Enabled = new(false)
		cfg.Vault.Address = new("")
		cfg.Vault.Token = new("")
		cfg.Vault.RenewToken = new(false)
	}
	consul := tr.s.cfg.ConsulAddr
	if consul == "" {
		// No Consul: an address nothing listens on, rather than whatever runs on 8500.
		consul = "127.0.0.1:1"
	}
	cfg.Consul.Address = new(strings.TrimPrefix(strings.TrimPrefix(consul, "http://"), "https://"))
	cfg.Consul.Token = new("")
	cfg.Consul.Retry = retry(3)
	cfg.Nomad.Enabled = new(false)
	cfg.Nomad.Address = new("")
	cfg.Nomad.Token = new("")
	cfg.Wait = &ctconfig.WaitConfig{Enabled: new(false)}
	cfg.MaxStale = new(2 * time.Second)

	var templates ctconfig.TemplateConfigs
	var dests []string
	for _, t := range tr.task.Templates {
		tc := ctconfig.DefaultTemplateConfig()
		if data := str(t.EmbeddedTmpl); data != "" {
			tc.Contents = new(data)
		} else {
			src := tr.s.interpolate(str(t.SourcePath), env)
			if !filepath.IsAbs(src) {
				src = filepath.Join(tr.dir, src)
			}
			tc.Source = new(src)
		}
		dest := filepath.Join(tr.dir, tr.s.interpolate(str(t.DestPath), env))
		dests = append(dests, dest)
		tc.Destination = new(dest)
		tc.CreateDestDirs = new(true)
		perms := "0644"
		if p := str(t.Perms); p != "" {
			perms = p
		}
		mode, err := strconv.ParseUint(perms, 8, 12)
		if err != nil {
			return nil, nil, fmt.Errorf("Failed to parse %q as octal: %v", perms, err)
		}
		tc.Perms = new(os.FileMode(mode))
		if t.Uid != nil {
			tc.Uid = new(*t.Uid)
		}
		if t.Gid != nil {
			tc.Gid = new(*t.Gid)
		}
		tc.LeftDelim = new(str(t.LeftDelim))
		tc.RightDelim = new(str(t.RightDelim))
		tc.ErrMissingKey = new(boolv(t.ErrMissingKey))
		tc.FunctionDenylist = []string{"plugin", "writeToFile"}
		tc.SandboxPath = new(tr.dir)
		templates = append(templates, tc)
	}
	cfg.Templates = &templates
	cfg.Finalize()
	return cfg, dests, nil
}

// readEnvTemplates parses the rendered files of env = true templates into variables
// (KEY=VALUE lines; blank lines and # comments skipped).
func readEnvTemplates(t *api.Task, dests []string) (map[string]string, error) {
	out := map[string]string{}
	for i, tmpl := range t.Templates {
		if !boolv(tmpl.Envvars) {
			continue
		}
		f, err := os.Open(dests[i])
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				f.Close()
				// The line may hold a secret: report only where it is.
				return nil, fmt.Errorf("error parsing env template %q: line %d is not KEY=VALUE", str(tmpl.DestPath), n)
			}
			out[strings.TrimSpace(k)] = v
		}
		f.Close()
	}
	return out, nil
}
