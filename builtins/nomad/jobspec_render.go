package nomad

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/nvrun/nvrun/runtime"
)

// renderJob shows a job spec as HCL-like text, the way its author would have written
// the jobspec: only the fields the script set, attributes aligned, blocks in jobspec
// order. It is for people reading a plan, not for `nomad job run`: every value that came
// from a Secret is shown as (sensitive).
func renderJob(j *api.Job, t *taint) string {
	w := &hclWriter{t: t}
	w.open(fmt.Sprintf("job %s", quote(*j.ID)))
	w.optStr("name", j.Name)
	w.optStr("namespace", j.Namespace)
	w.optStr("region", j.Region)
	w.optStr("type", j.Type)
	if j.Datacenters != nil {
		w.attr("datacenters", w.list(j.Datacenters))
	}
	w.optStr("node_pool", j.NodePool)
	w.optInt("priority", j.Priority)
	w.optBool("all_at_once", j.AllAtOnce)
	w.strMap("meta", j.Meta)
	w.update(j.Update)
	for _, g := range j.TaskGroups {
		w.group(g)
	}
	w.close()
	return w.b.String()
}

func (w *hclWriter) group(g *api.TaskGroup) {
	w.open("group " + quote(*g.Name))
	w.optInt("count", g.Count)
	w.optDuration("shutdown_delay", g.ShutdownDelay)
	w.strMap("meta", g.Meta)
	for _, n := range g.Networks {
		w.network(n)
	}
	for _, s := range g.Services {
		w.service(s)
	}
	w.restart(g.RestartPolicy)
	w.update(g.Update)
	for _, t := range g.Tasks {
		w.task(t)
	}
	w.close()
}

func (w *hclWriter) task(t *api.Task) {
	w.open("task " + quote(t.Name))
	w.attr("driver", w.str(t.Driver))
	if t.User != "" {
		w.attr("user", w.str(t.User))
	}
	if t.Leader {
		w.attr("leader", "true")
	}
	w.optDuration("kill_timeout", t.KillTimeout)
	if t.KillSignal != "" {
		w.attr("kill_signal", w.str(t.KillSignal))
	}
	if t.Lifecycle != nil {
		w.open("lifecycle")
		w.attr("hook", w.str(t.Lifecycle.Hook))
		if t.Lifecycle.Sidecar {
			w.attr("sidecar", "true")
		}
		w.close()
	}
	if t.Config != nil {
		w.open("config")
		w.data(t.Config)
		w.close()
	}
	w.strMap("env", t.Env)
	w.strMap("meta", t.Meta)
	for _, id := range t.Identities {
		w.identity(id)
	}
	if v := t.Vault; v != nil {
		w.open("vault")
		if len(v.Policies) > 0 {
			w.attr("policies", w.list(v.Policies))
		}
		if v.Role != "" {
			w.attr("role", w.str(v.Role))
		}
		if v.Cluster != "" {
			w.attr("cluster", w.str(v.Cluster))
		}
		w.optStr("namespace", v.Namespace)
		w.optBool("env", v.Env)
		w.optBool("disable_file", v.DisableFile)
		w.optStr("change_mode", v.ChangeMode)
		w.optStr("change_signal", v.ChangeSignal)
		w.optBool("allow_token_expiration", v.AllowTokenExpiration)
		w.close()
	}
	for _, tm := range t.Templates {
		w.open("template")
		w.optStr("source", tm.SourcePath)
		w.optStr("destination", tm.DestPath)
		w.optStr("change_mode", tm.ChangeMode)
		w.optStr("change_signal", tm.ChangeSignal)
		w.optStr("perms", tm.Perms)
		w.optInt("uid", tm.Uid)
		w.optInt("gid", tm.Gid)
		w.optBool("env", tm.Envvars)
		w.optBool("error_on_missing_key", tm.ErrMissingKey)
		w.optStr("left_delimiter", tm.LeftDelim)
		w.optStr("right_delimiter", tm.RightDelim)
		w.optDuration("splay", tm.Splay)
		w.optStr("data", tm.EmbeddedTmpl) // last: a heredoc reads best at the end
		w.close()
	}
	for _, s := range t.Services {
		w.service(s)
	}
	if r := t.Resources; r != nil {
		w.open("resources")
		w.optInt("cpu", r.CPU)
		w.optInt("cores", r.Cores)
		w.optInt("memory", r.MemoryMB)
		w.optInt("memory_max", r.MemoryMaxMB)
		w.close()
	}
	w.restart(t.RestartPolicy)
	w.close()
}

func (w *hclWriter) identity(id *api.WorkloadIdentity) {
	w.open("identity")
	if id.Name != "" {
		w.attr("name", w.str(id.Name))
	}
	if len(id.Audience) > 0 {
		w.attr("aud", w.list(id.Audience))
	}
	if id.TTL != 0 {
		w.attr("ttl", w.str(formatDuration(id.TTL)))
	}
	if id.Env {
		w.attr("env", "true")
	}
	if id.File {
		w.attr("file", "true")
	}
	for _, kv := range [][2]string{{"filepath", id.Filepath}, {"change_mode", id.ChangeMode}, {"change_signal", id.ChangeSignal}, {"service_name", id.ServiceName}} {
		if kv[1] != "" {
			w.attr(kv[0], w.str(kv[1]))
		}
	}
	if len(id.ExtraClaims) > 0 {
		w.attr("extra_claims", w.list(id.ExtraClaims))
	}
	w.close()
}

func (w *hclWriter) network(n *api.NetworkResource) {
	w.open("network")
	if n.Mode != "" {
		w.attr("mode", w.str(n.Mode))
	}
	if n.Hostname != "" {
		w.attr("hostname", w.str(n.Hostname))
	}
	ports := append(append([]api.Port(nil), n.ReservedPorts...), n.DynamicPorts...)
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].Label < ports[j].Label })
	for _, p := range ports {
		if p.Value == 0 && p.To == 0 && p.HostNetwork == "" {
			w.line(fmt.Sprintf("port %s {}", quote(p.Label)))
			continue
		}
		w.openTight("port " + quote(p.Label))
		if p.Value != 0 {
			w.attr("static", strconv.Itoa(p.Value))
		}
		if p.To != 0 {
			w.attr("to", strconv.Itoa(p.To))
		}
		if p.HostNetwork != "" {
			w.attr("host_network", w.str(p.HostNetwork))
		}
		w.close()
	}
	w.close()
}

func (w *hclWriter) service(s *api.Service) {
	w.open("service")
	w.attr("name", w.str(s.Name))
	if s.PortLabel != "" {
		w.attr("port", w.str(s.PortLabel))
	}
	if s.Tags != nil {
		w.attr("tags", w.list(s.Tags))
	}
	if s.Provider != "" {
		w.attr("provider", w.str(s.Provider))
	}
	if s.AddressMode != "" {
		w.attr("address_mode", w.str(s.AddressMode))
	}
	if s.TaskName != "" {
		w.attr("task", w.str(s.TaskName))
	}
	w.strMap("meta", s.Meta)
	for _, c := range s.Checks {
		w.open("check")
		if c.Name != "" {
			w.attr("name", w.str(c.Name))
		}
		w.attr("type", w.str(c.Type))
		for _, kv := range [][2]string{{"command", c.Command}, {"path", c.Path}, {"method", c.Method}, {"protocol", c.Protocol},
			{"port", c.PortLabel}, {"address_mode", c.AddressMode}, {"initial_status", c.InitialStatus}} {
			if kv[1] != "" {
				w.attr(kv[0], w.str(kv[1]))
			}
		}
		if c.Args != nil {
			w.attr("args", w.list(c.Args))
		}
		w.attr("interval", w.str(formatDuration(c.Interval)))
		w.attr("timeout", w.str(formatDuration(c.Timeout)))
		w.close()
	}
	w.close()
}

func (w *hclWriter) restart(r *api.RestartPolicy) {
	if r == nil {
		return
	}
	w.open("restart")
	w.optInt("attempts", r.Attempts)
	w.optDuration("interval", r.Interval)
	w.optDuration("delay", r.Delay)
	w.optStr("mode", r.Mode)
	w.optBool("render_templates", r.RenderTemplates)
	w.close()
}

func (w *hclWriter) update(u *api.UpdateStrategy) {
	if u == nil {
		return
	}
	w.open("update")
	w.optInt("max_parallel", u.MaxParallel)
	w.optStr("health_check", u.HealthCheck)
	w.optDuration("min_healthy_time", u.MinHealthyTime)
	w.optDuration("healthy_deadline", u.HealthyDeadline)
	w.optDuration("progress_deadline", u.ProgressDeadline)
	w.optBool("auto_revert", u.AutoRevert)
	w.optBool("auto_promote", u.AutoPromote)
	w.optInt("canary", u.Canary)
	w.optDuration("stagger", u.Stagger)
	w.close()
}

// hclWriter writes nested blocks, aligning the "=" of consecutive attributes as
// `nomad fmt` does, and separating blocks from what precedes them by a blank line.
type hclWriter struct {
	b       strings.Builder
	t       *taint
	depth   int
	pending [][2]string // attributes waiting to be aligned
	started []bool      // per open block: has it any content yet
}

func (w *hclWriter) indent() string { return strings.Repeat("  ", w.depth) }

func (w *hclWriter) flush() {
	width := 0
	for _, a := range w.pending {
		if !strings.HasPrefix(a[1], "<<") {
			width = max(width, len(a[0]))
		}
	}
	for _, a := range w.pending {
		name := a[0]
		if !strings.HasPrefix(a[1], "<<") {
			name += strings.Repeat(" ", width-len(a[0]))
		}
		w.b.WriteString(w.indent() + name + " = " + a[1] + "\n")
	}
	w.pending = nil
}

func (w *hclWriter) markContent() {
	if n := len(w.started); n > 0 {
		w.started[n-1] = true
	}
}

func (w *hclWriter) attr(name, value string) {
	w.pending = append(w.pending, [2]string{hclKey(name), value})
	w.markContent()
}

func (w *hclWriter) line(s string) {
	w.flush()
	w.b.WriteString(w.indent() + s + "\n")
	w.markContent()
}

func (w *hclWriter) open(header string) {
	w.flush()
	if n := len(w.started); n > 0 && w.started[n-1] {
		w.b.WriteString("\n")
	}
	w.openTight(header)
}

// openTight opens a block without a blank line before it (port blocks, as written).
func (w *hclWriter) openTight(header string) {
	w.flush()
	w.b.WriteString(w.indent() + header + " {\n")
	w.markContent()
	w.started = append(w.started, false)
	w.depth++
}

func (w *hclWriter) close() {
	w.flush()
	w.depth--
	w.started = w.started[:len(w.started)-1]
	w.b.WriteString(w.indent() + "}\n")
}

func (w *hclWriter) optStr(name string, v *string) {
	if v != nil {
		w.attr(name, w.str(*v))
	}
}

func (w *hclWriter) optInt(name string, v *int) {
	if v != nil {
		w.attr(name, strconv.Itoa(*v))
	}
}

func (w *hclWriter) optBool(name string, v *bool) {
	if v != nil {
		w.attr(name, strconv.FormatBool(*v))
	}
}

func (w *hclWriter) optDuration(name string, v *time.Duration) {
	if v != nil {
		w.attr(name, w.str(formatDuration(*v)))
	}
}

func (w *hclWriter) strMap(name string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	w.open(name)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if w.t != nil && w.t.sensitiveKeys[k] {
			w.attr(k, runtime.Redacted)
			continue
		}
		w.attr(k, w.str(m[k]))
	}
	w.close()
}

// data writes a driver config: scalars and lists as attributes, maps as nested blocks,
// lists of maps as repeated blocks (as the HCL jobspec writes port_map, mount, ...).
func (w *hclWriter) data(m map[string]any) {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		if !isBlockValue(m[k]) {
			w.attr(k, w.value(m[k]))
		}
	}
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			w.open(hclKey(k))
			w.data(v)
			w.close()
		case []any:
			if isBlockValue(v) {
				for _, e := range v {
					w.open(hclKey(k))
					w.data(e.(map[string]any))
					w.close()
				}
			}
		}
	}
}

func isBlockValue(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return true
	case []any:
		if len(v) == 0 {
			return false
		}
		for _, e := range v {
			if _, ok := e.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

func (w *hclWriter) value(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return w.str(v)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = w.value(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, hclKey(k)+" = "+w.value(v[k]))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return fmt.Sprint(v)
}

func (w *hclWriter) list(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = w.str(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// str quotes a string, or writes a multi-line one as a heredoc, or hides a secret.
func (w *hclWriter) str(s string) string {
	if w.t.isSecret(s) {
		return runtime.Redacted
	}
	if strings.Contains(strings.TrimSuffix(s, "\n"), "\n") {
		marker := "EOF"
		for i := 0; strings.Contains(s, marker); i++ {
			marker = fmt.Sprintf("EOF%d", i)
		}
		body := s
		if !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		return "<<" + marker + "\n" + body + w.indent() + marker
	}
	return quote(s)
}

func quote(s string) string { return strconv.Quote(s) }

var hclIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func hclKey(k string) string {
	if hclIdent.MatchString(k) {
		return k
	}
	return quote(k)
}

// formatDuration writes durations as jobspecs do: "2s", "5m", "1h30m", not "5m0s".
func formatDuration(d time.Duration) string { return runtime.ShortDuration(d) }
