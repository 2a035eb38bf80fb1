package nomad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/nomad/api"
	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// capabilityChecker is what the vault module provides under "vault.capabilities": the
// capabilities a token with exactly these policies would have on a path, and which of
// the policies grant them. Declared here, not imported, so that neither module imports
// the other.
type capabilityChecker interface {
	CheckCapabilities(ctx context.Context, policies []string, path string) (caps []string, grantedBy []string, err error)
}

// capabilityEvaluator is the checker's optional cheaper half: its own evaluation only,
// with no confirmation by Vault (which costs a token mint). nomad.run uses it when the
// answer deploys nothing (the plan, and an unchanged job), and the full check right
// before a register.
type capabilityEvaluator interface {
	EvaluateCapabilities(ctx context.Context, policies []string, path string) (caps []string, grantedBy []string, err error)
}

// rolePolicyResolver is the checker's answer for tasks that name a Vault role instead
// of policies (workload identity, Nomad 1.7+): the policies of a role this run writes.
type rolePolicyResolver interface {
	RolePolicies(role string) (policies []string, path string, ok bool)
}

// templateCheck is one template's access to one Vault path, from one task.
type templateCheck struct {
	group, task, dest string
	policies          []string
	access            vaultAccess
}

// preflightTemplates checks, before a job is registered (and in its plan), that every
// Vault path its templates read is granted by the policies of the task's vault block.
// Nomad itself only finds out when the template runner fails on a client, minutes into
// a deployment ("Missing: vault.read(...)"); here the job fails before anything is
// deployed, naming the path, the policies and what they do grant.
//
// A check that cannot be made fails closed: an error, naming the path and why, unless
// the script opted out with nomad.run(..., check_templates = "warn"), which records a
// note and a warning and goes ahead unchecked. A check that cannot be answered before
// apply (an offline plan, or a Vault initialised only at apply) is a note in a plan:
// apply makes it.
//
// It returns plan notes, and an error naming every path that is not granted.
func (m *module) preflightTemplates(ctx context.Context, thread *starlark.Thread, job *api.Job, confirm bool, onCheckError string) ([]string, error) {
	var checks []templateCheck
	var notes []string
	tasks := map[string]bool{}
	checker, _ := m.run.Lookup("vault.capabilities").(capabilityChecker)
	for _, g := range job.TaskGroups {
		for _, t := range g.Tasks {
			if t.Vault == nil {
				continue
			}
			policies := t.Vault.Policies
			if len(policies) == 0 {
				// Workload identity: the task's token gets the policies of the role it
				// logs in with, which the script may write in this run.
				var why string
				policies, why = rolePolicies(checker, t.Vault)
				if len(policies) == 0 {
					for _, tm := range t.Templates {
						if tm.EmbeddedTmpl != nil && strings.Contains(*tm.EmbeddedTmpl, "secret") {
							notes = append(notes, fmt.Sprintf("template %s: Vault paths not checked (%s)", deref(tm.DestPath), why))
						}
					}
					continue
				}
			}
			for _, tm := range t.Templates {
				dest := deref(tm.DestPath)
				if tm.EmbeddedTmpl == nil {
					notes = append(notes, fmt.Sprintf("template %s comes from a file (source = %q): its Vault paths are not checked", dest, deref(tm.SourcePath)))
					continue
				}
				accesses, caveat, err := templateVaultAccesses(*tm.EmbeddedTmpl, deref(tm.LeftDelim), deref(tm.RightDelim), taskEnv(job, g, t))
				if err != nil {
					return nil, fmt.Errorf("group %q task %q template %s: %w", *g.Name, t.Name, dest, err)
				}
				if caveat != "" {
					notes = append(notes, fmt.Sprintf("template %s %s", dest, caveat))
				}
				for _, a := range accesses {
					checks = append(checks, templateCheck{group: *g.Name, task: t.Name, dest: dest, policies: policies, access: a})
					tasks[*g.Name+"/"+t.Name] = true
				}
			}
		}
	}
	if len(checks) == 0 {
		return notes, nil
	}
	// One task is the common case and its notes read best without a prefix.
	prefix := func(c templateCheck) string {
		if len(tasks) > 1 {
			return fmt.Sprintf("group %q task %q: ", c.group, c.task)
		}
		return ""
	}

	if checker == nil {
		why := "no Vault capability checker in this run (the vault module is not loaded)"
		if m.notRead(thread) {
			why = "offline plan: Vault is not read"
		}
		for _, c := range checks {
			notes = append(notes, fmt.Sprintf("%stemplate %s %s: check skipped (%s)", prefix(c), c.access.verb(), c.access.Path, why))
		}
		return notes, nil
	}

	check := checker.CheckCapabilities
	if ev, ok := checker.(capabilityEvaluator); ok && !confirm {
		check = ev.EvaluateCapabilities
	}
	var denied, failed []string
	for _, c := range checks {
		caps, grantedBy, err := check(ctx, c.policies, c.access.Path)
		head := fmt.Sprintf("%stemplate %s %s", prefix(c), c.access.verb(), c.access.Path)
		var pending interface{ NotYetKnown() bool }
		if err != nil && errors.As(err, &pending) && pending.NotYetKnown() && m.waitsForApply(thread, err) {
			notes = append(notes, fmt.Sprintf("%s: check skipped until apply (%v)", head, err))
			continue
		}
		switch {
		case err != nil && onCheckError == checkWarn:
			notes = append(notes, fmt.Sprintf("%s: check skipped (%v)", head, err))
			m.run.Warn("nomad job %q: %s: the Vault capability check failed: %v; going ahead unchecked (check_templates = %q)", deref(job.ID), head, err, checkWarn)
			continue
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: the Vault capability check failed: %v", head, err))
			continue
		}
		if grants(caps, c.access.Op) {
			by := strings.Join(grantedBy, ", ")
			if by == "" {
				by = fmt.Sprintf("policies %s (capabilities: %s)", bracket(c.policies), bracket(caps))
			}
			notes = append(notes, fmt.Sprintf("%s: granted by %s", head, by))
			continue
		}
		denied = append(denied, fmt.Sprintf("%s: not granted by %s (capabilities: %s)", head, bracket(c.policies), bracket(caps)))
	}
	if len(failed) > 0 {
		denied = append(denied, failed...)
		denied[len(denied)-1] += fmt.Sprintf(` (to go ahead without the check, pass check_templates = %q to nomad.run)`, checkWarn)
	}
	if len(denied) > 0 {
		return notes, errors.New(strings.Join(denied, "; "))
	}
	return notes, nil
}

// waitsForApply asks the runtime whether err, an answer not known yet, may wait for
// apply: yes in a plan (the check is a note, and apply makes it), no in an apply (where
// it is a failed check, as any other).
func (m *module) waitsForApply(thread *starlark.Thread, err error) bool {
	v, qerr := m.run.Query(thread, runtime.Query{Read: func(context.Context) (runtime.Answer, error) {
		return runtime.Answer{}, &runtime.NotYetError{Err: err}
	}})
	_, unknown := v.(*runtime.Unknown)
	return qerr == nil && unknown
}

// notRead asks the runtime whether this run reads live state at all: not in an offline
// plan (or the preflight before an apply).
func (m *module) notRead(thread *starlark.Thread) bool {
	v, err := m.run.Query(thread, runtime.Query{Read: func(context.Context) (runtime.Answer, error) {
		return runtime.Answer{Value: starlark.None}, nil
	}})
	_, unknown := v.(*runtime.Unknown)
	return err == nil && unknown
}

// check_templates values: what nomad.run does when a template capability check cannot
// be made.
const (
	checkFail = "fail" // the default: an error, nothing registered
	checkWarn = "warn" // a note and a warning; the job goes ahead unchecked
)

// rolePolicies are the policies a workload-identity task's token gets: those of the
// role its vault block names, if this run writes that role. Otherwise it says why the
// check cannot be made.
func rolePolicies(checker capabilityChecker, v *api.Vault) ([]string, string) {
	if v.Role == "" {
		return nil, "the task names no role: its token gets the policies of the agent's create_from_role or the auth method's default_role"
	}
	r, ok := checker.(rolePolicyResolver)
	if !ok {
		return nil, fmt.Sprintf("role %q: no Vault module in this run", v.Role)
	}
	pols, _, found := r.RolePolicies(v.Role)
	if !found {
		return nil, fmt.Sprintf("role %q is not written by this script, so its policies are not known", v.Role)
	}
	if len(pols) == 0 {
		return nil, fmt.Sprintf("role %q gives no token_policies", v.Role)
	}
	return pols, ""
}

// taskEnv is the environment Nomad gives a task's templates, as far as it is known
// before an allocation exists: the task's env and the job's runtime variables.
func taskEnv(job *api.Job, g *api.TaskGroup, t *api.Task) []string {
	env := []string{
		"NOMAD_JOB_ID=" + deref(job.ID),
		"NOMAD_JOB_NAME=" + deref(job.ID),
		"NOMAD_GROUP_NAME=" + deref(g.Name),
		"NOMAD_TASK_NAME=" + t.Name,
	}
	if job.Name != nil {
		env[1] = "NOMAD_JOB_NAME=" + *job.Name
	}
	if job.Namespace != nil {
		env = append(env, "NOMAD_NAMESPACE="+*job.Namespace)
	}
	if job.Region != nil {
		env = append(env, "NOMAD_REGION="+*job.Region)
	}
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		env = append(env, k+"="+t.Env[k])
	}
	return env
}

// grants says whether capabilities allow an operation; "deny" overrides everything, as
// in Vault.
func grants(caps []string, op string) bool {
	if slices.Contains(caps, "deny") {
		return false
	}
	if slices.Contains(caps, "root") || slices.Contains(caps, op) {
		return true
	}
	// A write to a path that does not exist yet needs create rather than update.
	return op == "update" && slices.Contains(caps, "create")
}

func bracket(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	return "[" + strings.Join(ss, ", ") + "]"
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
