package nomadtest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func intv(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func boolv(p *bool) bool { return p != nil && *p }

func dur(p *time.Duration) time.Duration {
	if p == nil {
		return 0
	}
	return *p
}

func u64(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// clone deep-copies a JSON-shaped value the way it travels over the API.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("nomadtest: copy: " + err.Error())
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic("nomadtest: copy: " + err.Error())
	}
	return out
}

func copyJob(j *api.Job) *api.Job                 { return clone(j) }
func copyAlloc(a *api.Allocation) *api.Allocation { return clone(a) }

// prepareJob is what the HTTP agent and the server's admission mutators do to a
// submitted job before validation: api Canonicalize (as ApiJobToStructJob does), the
// server's own defaults (node pool, datacenters "*"), the region the request resolved
// to, and the implied constraints (Vault, signals, service discovery).
func prepareJob(in *api.Job, namespace, region string) *api.Job {
	j := copyJob(in)
	if str(j.Namespace) == "" {
		j.Namespace = &namespace
	}
	j.Canonicalize()
	j.Region = &region
	if str(j.NodePool) == "" {
		j.NodePool = new("default")
	}
	if len(j.Datacenters) == 0 {
		j.Datacenters = []string{"*"}
	}
	addImpliedConstraints(j)
	normalizeEmpty(reflect.ValueOf(j).Elem())
	return j
}

// normalizeEmpty turns empty maps and slices into nil, recursively, so that a job sent
// once with [] and once with null compares equal (Nomad's canonicalizers do the same
// field by field).
func normalizeEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalizeEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				normalizeEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() && !v.IsNil() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			normalizeEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			if v.CanSet() && !v.IsNil() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		// Map values are not addressable; nested maps in task config are left alone.
	}
}

// serverSetFields blanks what the server sets, so that two versions compare by spec.
func specOf(j *api.Job) []byte {
	c := copyJob(j)
	c.Status, c.StatusDescription, c.Stable = nil, nil, nil
	c.Version, c.SubmitTime = nil, nil
	c.CreateIndex, c.ModifyIndex, c.JobModifyIndex = nil, nil, nil
	c.VersionTag = nil
	b, _ := json.Marshal(c)
	return b
}

// specChanged is Job.SpecChanged: does new differ from old beyond server-set fields?
func specChanged(old, new *api.Job) bool {
	if old == nil {
		return true
	}
	return !bytes.Equal(specOf(old), specOf(new))
}

// jobVaultBlocks maps group -> task -> vault block, for tasks that have one.
func jobVaultBlocks(j *api.Job) map[string]map[string]*api.Vault {
	out := map[string]map[string]*api.Vault{}
	for _, tg := range j.TaskGroups {
		for _, t := range tg.Tasks {
			if t.Vault == nil {
				continue
			}
			if out[str(tg.Name)] == nil {
				out[str(tg.Name)] = map[string]*api.Vault{}
			}
			out[str(tg.Name)][t.Name] = t.Vault
		}
	}
	return out
}

var (
	vaultConstraint    = api.Constraint{LTarget: "${attr.vault.version}", RTarget: ">= 0.6.1", Operand: opSemver}
	consulConstraint   = api.Constraint{LTarget: "${attr.consul.version}", RTarget: ">= 1.7.0", Operand: opSemver}
	nativeSDConstraint = api.Constraint{LTarget: "${attr.nomad.service_discovery}", RTarget: "true", Operand: "="}
)

// addImpliedConstraints is the jobImpliedConstraints admission mutator.
func addImpliedConstraints(j *api.Job) {
	for _, tg := range j.TaskGroups {
		usesVault, usesConsul, usesNomadSD := false, false, false
		signals := map[string]bool{}
		note := func(services []*api.Service) {
			for _, s := range services {
				if s.Provider == "nomad" {
					usesNomadSD = true
				} else {
					usesConsul = true
				}
			}
		}
		note(tg.Services)
		for _, t := range tg.Tasks {
			note(t.Services)
			if t.Vault != nil {
				usesVault = true
				if str(t.Vault.ChangeMode) == "signal" && str(t.Vault.ChangeSignal) != "" {
					signals[str(t.Vault.ChangeSignal)] = true
				}
			}
			for _, tmpl := range t.Templates {
				if str(tmpl.ChangeMode) == "signal" && str(tmpl.ChangeSignal) != "" {
					signals[str(tmpl.ChangeSignal)] = true
				}
			}
			if t.KillSignal != "" {
				signals[t.KillSignal] = true
			}
		}
		if usesVault {
			addConstraintLeft(tg, vaultConstraint)
		}
		if len(signals) > 0 {
			list := make([]string, 0, len(signals))
			for s := range signals {
				list = append(list, s)
			}
			sort.Strings(list)
			addConstraintFull(tg, api.Constraint{LTarget: "${attr.os.signals}", RTarget: strings.Join(list, ","), Operand: opSetContains})
		}
		if usesNomadSD {
			addConstraintFull(tg, nativeSDConstraint)
		}
		if usesConsul {
			addConstraintLeft(tg, consulConstraint)
		}
	}
}

func addConstraintLeft(tg *api.TaskGroup, c api.Constraint) {
	for _, have := range tg.Constraints {
		if have.LTarget == c.LTarget {
			return
		}
	}
	tg.Constraints = append(tg.Constraints, &c)
}

func addConstraintFull(tg *api.TaskGroup, c api.Constraint) {
	for _, have := range tg.Constraints {
		if *have == c {
			return
		}
	}
	tg.Constraints = append(tg.Constraints, &c)
}

func lookupGroup(j *api.Job, name string) *api.TaskGroup {
	if j == nil {
		return nil
	}
	for _, tg := range j.TaskGroups {
		if str(tg.Name) == name {
			return tg
		}
	}
	return nil
}
