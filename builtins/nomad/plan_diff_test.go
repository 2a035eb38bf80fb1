package nomad

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// A diff in the shape of Nomad's job-plan API (and of the nomadtest double): primitive
// fields by name, maps flattened into fields ("Env[KEY]"), the task config as an
// object of flattened keys, string lists as set objects, durations in nanoseconds.
func TestPlanDiff(t *testing.T) {
	d := &api.JobDiff{
		Type: "Edited", ID: "db",
		Fields: []*api.FieldDiff{
			{Type: "None", Name: "Priority", Old: "50", New: "50"},
			{Type: "Edited", Name: "Meta[owner]", Old: "a", New: "b"},
		},
		Objects: []*api.ObjectDiff{{Type: "Edited", Name: "Datacenters", Fields: []*api.FieldDiff{
			{Type: "Added", Name: "Datacenters", New: "dc2"}, {Type: "None", Name: "Datacenters", Old: "dc1", New: "dc1"},
		}}},
		TaskGroups: []*api.TaskGroupDiff{
			{Type: "Edited", Name: "db",
				Fields: []*api.FieldDiff{{Type: "Edited", Name: "Count", Old: "1", New: "2"}},
				Tasks: []*api.TaskDiff{
					{Type: "Edited", Name: "server", Annotations: []string{"forces create/destroy update"},
						Fields: []*api.FieldDiff{
							{Type: "Edited", Name: "Env[PGPORT]", Old: "5432", New: "5433"},
							{Type: "Edited", Name: "Env[DB_PASSWORD]", Old: "old-pass-1", New: "new-pass-2"},
							{Type: "Edited", Name: "Env[API]", Old: "plain", New: "SECRET-VALUE-123"},
							{Type: "None", Name: "Driver", Old: "docker", New: "docker"},
						},
						Objects: []*api.ObjectDiff{
							{Type: "Edited", Name: "Config", Fields: []*api.FieldDiff{
								{Type: "Edited", Name: "image", Old: "pg:14", New: "pg:15"},
								{Type: "Added", Name: "ports[1]", New: "admin"},
							}},
							{Type: "Added", Name: "Template", Fields: []*api.FieldDiff{
								{Type: "Added", Name: "DestPath", New: "secrets/x"},
								{Type: "Added", Name: "EmbeddedTmpl", New: "a\nb\nc\n"},
							}},
							{Type: "Edited", Name: "Service", Objects: []*api.ObjectDiff{{Type: "Edited", Name: "Check", Fields: []*api.FieldDiff{
								{Type: "Edited", Name: "Interval", Old: "10000000000", New: "2000000000"},
							}}}},
							{Type: "Edited", Name: "Vault", Objects: []*api.ObjectDiff{{Type: "Edited", Name: "Policies", Fields: []*api.FieldDiff{
								{Type: "Deleted", Name: "Policies", Old: "old"},
							}}}},
						}},
					{Type: "Deleted", Name: "sidecar"},
				}},
			{Type: "Added", Name: "cache", Tasks: []*api.TaskDiff{{Type: "Added", Name: "redis"}}},
			{Type: "None", Name: "same"},
		},
	}
	tn := newTaint()
	tn.secrets["SECRET-VALUE-123"] = true
	var lines []string
	for _, l := range planDiff(d, tn) {
		lines = append(lines, fmt.Sprintf("%s %s: %s -> %s", l.Op, l.Key, l.Before, l.After))
	}
	got := strings.Join(lines, "\n")
	want := strings.Join([]string{
		`~ meta[owner]: "a" -> "b"`,
		`+ datacenters:  -> "dc2"`,
		`~ group "db" count: "1" -> "2"`,
		`~ group "db" task "server" env[PGPORT]: "5432" -> "5433"`,
		`~ group "db" task "server" env[DB_PASSWORD]: (sensitive) -> (sensitive)`,
		`~ group "db" task "server" env[API]: "plain" -> (sensitive)`,
		`~ group "db" task "server" config.image: "pg:14" -> "pg:15"`,
		`+ group "db" task "server" config.ports[1]:  -> "admin"`,
		`+ group "db" task "server" template.destination:  -> "secrets/x"`,
		`+ group "db" task "server" template.data:  -> (3 lines)`,
		`~ group "db" task "server" service.check.interval: "10s" -> "2s"`,
		`- group "db" task "server" vault.policies: "old" -> `,
		`- group "db" task "sidecar": task removed -> `,
		`+ group "cache":  -> new group, 1 task`,
	}, "\n")
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if notes := planAnnotations(d); len(notes) != 1 || notes[0] != `group "db" task "server": forces create/destroy update` {
		t.Errorf("annotations: %q", notes)
	}
}

func TestPlanSummary(t *testing.T) {
	for _, tc := range []struct {
		u    map[string]*api.DesiredUpdates
		want string
	}{
		{map[string]*api.DesiredUpdates{"db": {Place: 1}}, " (nomad plan: 1 create)"},
		{map[string]*api.DesiredUpdates{"a": {DestructiveUpdate: 1}, "b": {InPlaceUpdate: 2, Ignore: 1}}, " (nomad plan: 1 create/destroy update, 2 in-place update)"},
		{map[string]*api.DesiredUpdates{"a": {Ignore: 1}}, " (nomad plan: no allocation changes)"},
		{nil, ""},
	} {
		p := &api.JobPlanResponse{Annotations: &api.PlanAnnotations{DesiredTGUpdates: tc.u}}
		if got := planSummary(p); got != tc.want {
			t.Errorf("planSummary(%v) = %q, want %q", tc.u, got, tc.want)
		}
	}
}

func TestJobspecName(t *testing.T) {
	for in, want := range map[string]string{"Count": "count", "KillTimeout": "kill_timeout", "CPU": "cpu", "MemoryMB": "memory",
		"Static Port": "port", "HTTPPath": "http_path", "TaskName": "task", "ChangeMode": "change_mode", "TTLSeconds": "ttl_seconds"} {
		if got := jobspecName(in); got != want {
			t.Errorf("jobspecName(%q) = %q, want %q", in, got, want)
		}
	}
}
