package nomadtest

import (
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// defaultPath is the PATH tasks get when the double's own PATH is empty. Tasks get no
// other variable from the double's environment (it may hold tokens).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildEnv is the task environment Nomad's taskenv builds: the NOMAD_* variables,
// ports, meta, the task's env block (interpolated), and VAULT_TOKEN when given.
func (tr *taskRunner) buildEnv(vaultToken string) map[string]string {
	a, t, s := tr.alloc, tr.task, tr.s
	tg := lookupGroup(a.Job, a.TaskGroup)
	env := map[string]string{}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env["PATH"] = path

	env["NOMAD_ALLOC_DIR"] = tr.ar.allocDir + "/alloc"
	env["NOMAD_TASK_DIR"] = tr.dir + "/local"
	env["NOMAD_SECRETS_DIR"] = tr.dir + "/secrets"
	env["NOMAD_ALLOC_ID"] = a.ID
	env["NOMAD_SHORT_ALLOC_ID"] = a.ID[:8]
	env["NOMAD_ALLOC_NAME"] = a.Name
	if i := strings.LastIndex(a.Name, "["); i >= 0 {
		env["NOMAD_ALLOC_INDEX"] = strings.TrimSuffix(a.Name[i+1:], "]")
	}
	env["NOMAD_JOB_ID"] = a.JobID
	env["NOMAD_JOB_NAME"] = str(a.Job.Name)
	env["NOMAD_JOB_PARENT_ID"] = str(a.Job.ParentID)
	env["NOMAD_GROUP_NAME"] = a.TaskGroup
	env["NOMAD_TASK_NAME"] = t.Name
	env["NOMAD_DC"] = s.node.Datacenter
	env["NOMAD_REGION"] = s.node.Region
	env["NOMAD_NAMESPACE"] = a.Namespace
	if t.Resources != nil {
		env["NOMAD_CPU_LIMIT"] = strconv.Itoa(intv(t.Resources.CPU))
		env["NOMAD_MEMORY_LIMIT"] = strconv.Itoa(intv(t.Resources.MemoryMB))
		if m := intv(t.Resources.MemoryMaxMB); m > 0 {
			env["NOMAD_MEMORY_MAX_LIMIT"] = strconv.Itoa(m)
		}
	}
	for k, v := range combinedMeta(a.Job, tg, t) {
		env["NOMAD_META_"+cleanEnvVar(k)] = v
		env["NOMAD_META_"+strings.ToUpper(cleanEnvVar(k))] = v
	}

	// Group ports (alloc networking), then the task's own network ports.
	if a.AllocatedResources != nil {
		for _, p := range a.AllocatedResources.Shared.Ports {
			label := cleanEnvVar(p.Label)
			port := strconv.Itoa(p.Value)
			env["NOMAD_IP_"+label] = p.HostIP
			env["NOMAD_HOST_IP_"+label] = p.HostIP
			env["NOMAD_HOST_PORT_"+label] = port
			env["NOMAD_ADDR_"+label] = net.JoinHostPort(p.HostIP, port)
			env["NOMAD_HOST_ADDR_"+label] = net.JoinHostPort(p.HostIP, port)
			env["NOMAD_ALLOC_IP_"+label] = p.HostIP
			env["NOMAD_ALLOC_PORT_"+label] = port
			env["NOMAD_ALLOC_ADDR_"+label] = net.JoinHostPort(p.HostIP, port)
			if p.To > 0 {
				env["NOMAD_PORT_"+label] = strconv.Itoa(p.To)
			} else {
				env["NOMAD_PORT_"+label] = port
			}
		}
	}
	for _, n := range tr.nets {
		for _, p := range append(append([]api.Port(nil), n.ReservedPorts...), n.DynamicPorts...) {
			label := cleanEnvVar(p.Label)
			port := strconv.Itoa(p.Value)
			env["NOMAD_IP_"+label] = n.IP
			env["NOMAD_HOST_PORT_"+label] = port
			env["NOMAD_ADDR_"+label] = net.JoinHostPort(n.IP, port)
			env["NOMAD_PORT_"+label] = port
		}
	}
	if vaultToken != "" {
		env["VAULT_TOKEN"] = vaultToken
		if ns := tr.vaultNamespace(); ns != "" {
			env["VAULT_NAMESPACE"] = ns
		}
	}
	for k, v := range t.Env {
		env[k] = s.interpolate(v, env)
	}
	return env
}

func (tr *taskRunner) vaultNamespace() string {
	if v := tr.task.Vault; v != nil && str(v.Namespace) != "" {
		return str(v.Namespace)
	}
	if vc, err := tr.s.readVaultConfig(); err == nil {
		return vc.Namespace
	}
	return ""
}

var invalidEnvChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

// cleanEnvVar is helper.CleanEnvVar: anything but [A-Za-z0-9_] becomes "_".
func cleanEnvVar(s string) string { return invalidEnvChars.ReplaceAllString(s, "_") }

var interpolation = regexp.MustCompile(`\$\{([^}]+)\}`)

// interpolate replaces ${NOMAD_*}, ${env.X} / ${env["X"]}, ${attr.X}, ${node.X} and
// ${meta.X} as Nomad does in task config, env and templates; unknown ones stay as is.
func (s *Server) interpolate(in string, env map[string]string) string {
	return interpolation.ReplaceAllStringFunc(in, func(m string) string {
		key := strings.TrimSpace(m[2 : len(m)-1])
		if v, ok := env[key]; ok {
			return v
		}
		if rest, ok := strings.CutPrefix(key, "env."); ok {
			return env[rest]
		}
		if rest, ok := strings.CutPrefix(key, "env["); ok {
			return env[strings.Trim(strings.TrimSuffix(rest, "]"), `"`)]
		}
		if v, ok := s.resolveTarget("${"+key+"}", s.node.attrs); ok && !strings.HasPrefix(key, "meta.") {
			return v
		}
		return m
	})
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
