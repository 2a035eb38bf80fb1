package nomadfake

import (
	"testing"

	"github.com/hashicorp/nomad/api"
)

// BenchmarkNew is what a described Nomad costs a test: a fake with an agent config and
// two running jobs.
func BenchmarkNew(b *testing.B) {
	text := startingAgentConfig
	for i := 0; i < b.N; i++ {
		var jobs []*api.Job
		for _, id := range []string{"web", "db"} {
			jobs = append(jobs, &api.Job{ID: &id, Datacenters: []string{"dc1"}, TaskGroups: []*api.TaskGroup{{
				Name: new("g"), Tasks: []*api.Task{{Name: "t", Driver: "docker", Config: map[string]any{"image": "x"}}},
			}}})
		}
		f, err := New(Options{Jobs: jobs, AgentConfig: &text})
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
