package nomad

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/nomad/api"

	"github.com/nvrun/nvrun/runtime"
)

// planDiff flattens the structured diff of Nomad's job-plan API into one line per
// changed field, named the way the jobspec names it:
//
//	~ group "db" task "server" env[PGPORT]: "5432" -> "5433"
//	+ group "db" task "server" template.destination: "secrets/config.json"
//	+ group "web": new group, 1 task
//
// A group or task that is wholly added or removed is one line, not a line per field.
// Values that are, or may be, secrets are shown as (sensitive).
func planDiff(d *api.JobDiff, t *taint) []runtime.DiffLine {
	if d == nil {
		return nil
	}
	var out []runtime.DiffLine
	fd := &diffFlattener{t: t, out: &out}
	fd.fields("", d.Fields, "")
	fd.objects("", d.Objects, "")
	for _, g := range d.TaskGroups {
		gk := fmt.Sprintf("group %q", g.Name)
		switch g.Type {
		case "None":
			continue
		case "Added":
			out = append(out, runtime.DiffLine{Op: "+", Key: gk, After: "new group" + countTasks(len(g.Tasks))})
			continue
		case "Deleted":
			out = append(out, runtime.DiffLine{Op: "-", Key: gk, Before: "group removed" + countTasks(len(g.Tasks))})
			continue
		}
		fd.fields(gk+" ", g.Fields, "")
		fd.objects(gk+" ", g.Objects, "")
		for _, tk := range g.Tasks {
			tkey := fmt.Sprintf("%s task %q", gk, tk.Name)
			switch tk.Type {
			case "None":
				continue
			case "Added":
				out = append(out, runtime.DiffLine{Op: "+", Key: tkey, After: "new task"})
				continue
			case "Deleted":
				out = append(out, runtime.DiffLine{Op: "-", Key: tkey, Before: "task removed"})
				continue
			}
			fd.fields(tkey+" ", tk.Fields, "")
			fd.objects(tkey+" ", tk.Objects, "")
		}
	}
	return out
}

// planAnnotations are the task-level annotations ("forces create/destroy update").
func planAnnotations(d *api.JobDiff) []string {
	if d == nil {
		return nil
	}
	var notes []string
	for _, g := range d.TaskGroups {
		for _, tk := range g.Tasks {
			if tk.Type != "None" && len(tk.Annotations) > 0 {
				notes = append(notes, fmt.Sprintf("group %q task %q: %s", g.Name, tk.Name, strings.Join(tk.Annotations, ", ")))
			}
		}
	}
	return notes
}

func countTasks(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return ", 1 task"
	}
	return fmt.Sprintf(", %d tasks", n)
}

type diffFlattener struct {
	t   *taint
	out *[]runtime.DiffLine
}

// mapObjects are diffed by key: env[KEY], meta[KEY].
var mapObjects = map[string]string{"Env": "env", "Meta": "meta", "Config": "config"}

func (fd *diffFlattener) objects(prefix string, objs []*api.ObjectDiff, path string) {
	for _, o := range objs {
		if o.Type == "None" {
			continue
		}
		name := jobspecName(o.Name)
		p := join(path, name)
		if m, ok := mapObjects[o.Name]; ok && path == "" {
			fd.mapFields(prefix, m, o.Fields)
			fd.objects(prefix, o.Objects, m)
			continue
		}
		fd.fields(prefix, o.Fields, p)
		fd.objects(prefix, o.Objects, p)
	}
}

func (fd *diffFlattener) mapFields(prefix, mapName string, fields []*api.FieldDiff) {
	for _, f := range fields {
		key := fmt.Sprintf("%s[%s]", mapName, f.Name)
		if mapName == "config" {
			key = mapName + "." + f.Name
		}
		sensitive := fd.t != nil && fd.t.sensitiveKeys[lastKey(f.Name)] || secretLooking.MatchString(f.Name)
		fd.add(prefix+key, f, sensitive, false)
	}
}

func (fd *diffFlattener) fields(prefix string, fields []*api.FieldDiff, path string) {
	for _, f := range fields {
		// Maps of a block are flattened into its fields as Nomad's flatmap does:
		// "Env[PGPORT]", "Meta[owner]". The key keeps its case; the field is renamed.
		name, sub := f.Name, ""
		if i := strings.IndexByte(name, '['); i > 0 {
			name, sub = name[:i], name[i:]
		}
		jn := jobspecName(name)
		key := join(path, jn) + sub
		// A set of strings (datacenters, policies, tags) is an object whose fields are
		// named after it; say it once.
		if path != "" && sub == "" && (path == jn || strings.HasSuffix(path, "."+jn)) {
			key = path
		}
		mapKey := strings.TrimSuffix(strings.TrimPrefix(sub, "["), "]")
		sensitive := sub != "" && (jn == "env" || jn == "meta") && (fd.t != nil && fd.t.sensitiveKeys[mapKey] || secretLooking.MatchString(mapKey))
		fd.add(prefix+key, f, sensitive, durationFields[jn] && sub == "")
	}
}

// durationFields are shown as "2s" rather than the nanoseconds Nomad's diff carries.
var durationFields = map[string]bool{
	"interval": true, "timeout": true, "delay": true, "kill_timeout": true, "min_healthy_time": true,
	"healthy_deadline": true, "progress_deadline": true, "stagger": true, "shutdown_delay": true,
	"splay": true, "max_delay": true, "vault_grace": true,
}

func (fd *diffFlattener) add(key string, f *api.FieldDiff, sensitive, duration bool) {
	before, after := fd.show(f.Old, sensitive, duration), fd.show(f.New, sensitive, duration)
	if len(f.Annotations) > 0 {
		after += " (" + strings.Join(f.Annotations, ", ") + ")"
	}
	switch f.Type {
	case "Added":
		*fd.out = append(*fd.out, runtime.DiffLine{Op: "+", Key: key, After: after})
	case "Deleted":
		*fd.out = append(*fd.out, runtime.DiffLine{Op: "-", Key: key, Before: before})
	case "Edited":
		*fd.out = append(*fd.out, runtime.DiffLine{Op: "~", Key: key, Before: before, After: after})
	}
}

func (fd *diffFlattener) show(v string, sensitive, duration bool) string {
	if sensitive || fd.t.isSecret(v) {
		return runtime.Redacted
	}
	if ns, err := strconv.ParseInt(v, 10, 64); err == nil && duration {
		return fmt.Sprintf("%q", formatDuration(time.Duration(ns)))
	}
	if n := strings.Count(strings.TrimSuffix(v, "\n"), "\n"); n > 0 {
		return fmt.Sprintf("(%d lines)", n+1)
	}
	return fmt.Sprintf("%q", v)
}

// secretLooking env or meta keys are redacted even when the script did not pass a
// Secret: the old value Nomad reports may have been one.
var secretLooking = regexp.MustCompile(`(?i)(pass|secret|token|credential|private|api_?key)`)

// jobspecNames maps the api field names Nomad's diff uses to jobspec names where the
// plain snake_case conversion would not give them.
var jobspecNames = map[string]string{
	"EmbeddedTmpl": "data", "DestPath": "destination", "SourcePath": "source",
	"PortLabel": "port", "MemoryMB": "memory", "MemoryMaxMB": "memory_max", "DiskMB": "disk",
	"CPU": "cpu", "Static Port": "port", "Dynamic Port": "port", "Value": "static",
	"RestartPolicy": "restart", "ReschedulePolicy": "reschedule", "LogConfig": "logs",
	"Envvars": "env", "ErrMissingKey": "error_on_missing_key", "LeftDelim": "left_delimiter",
	"RightDelim": "right_delimiter", "TaskName": "task", "AddressMode": "address_mode",
}

func jobspecName(s string) string {
	if n, ok := jobspecNames[s]; ok {
		return n
	}
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('_')
		case unicode.IsUpper(r):
			// a new word starts at an upper case letter after a lower case one, or at the
			// last capital of an acronym followed by a lower case letter ("TTLSeconds")
			if i > 0 && rs[i-1] != ' ' && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteRune('_')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func lastKey(flat string) string {
	if i := strings.LastIndexAny(flat, ".["); i >= 0 {
		return strings.Trim(flat[i+1:], "]")
	}
	return flat
}
