package nomad

import (
	"sort"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Builders are the job spec builders and nothing that reaches a server, and they work
// with no run behind them.
func TestBuilders(t *testing.T) {
	b := Builders()
	var names []string
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"check", "group", "identity", "job", "network", "resources", "service", "task", "template", "vault"}
	if len(names) != len(want) {
		t.Fatalf("Builders() = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("Builders() = %v, want %v", names, want)
		}
	}
	v, err := starlark.ExecFile(&starlark.Thread{}, "x.star", `
job = nomad.job("web", datacenters = ["dc1"], groups = [nomad.group("g", tasks = [nomad.task("t", driver = "docker", config = {"image": "x"})])])
`, starlark.StringDict{"nomad": &starlarkstruct.Module{Name: "nomad", Members: b}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := JobOf(v["job"])
	if err != nil {
		t.Fatal(err)
	}
	if *j.ID != "web" || len(j.TaskGroups) != 1 || *j.TaskGroups[0].Name != "g" || j.TaskGroups[0].Tasks[0].Driver != "docker" {
		t.Fatalf("JobOf(nomad.job(...)) = %+v", j)
	}
}
