package nomadfake

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvrun/nvrun/builtins/nomad/nomadtest"
	"github.com/nvrun/nvrun/internal/fakecheck"
)

// confJob is a raw_exec job (a real process on the listening double) in the API's JSON
// shape; %PORT% varies it.
const confJob = `{"ID":"conf","Name":"conf","Type":"service","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":1,` +
	`"Update":{"MinHealthyTime":1000000000,"HealthyDeadline":30000000000},` +
	`"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/sleep","args":["300"]},"Env":{"PORT":"%PORT%"}}]}]}`

func job(port string) string { return strings.ReplaceAll(confJob, "%PORT%", port) }

var (
	planFields = []string{"Diff.Type", "Diff.ID", "Diff.Fields", "Diff.Objects", "Diff.TaskGroups[].Name", "Diff.TaskGroups[].Type",
		"Diff.TaskGroups[].Updates", "Diff.TaskGroups[].Tasks[].Name", "Diff.TaskGroups[].Tasks[].Type", "Diff.TaskGroups[].Tasks[].Annotations",
		"Diff.TaskGroups[].Tasks[].Fields[].Name", "Diff.TaskGroups[].Tasks[].Fields[].Type", "Diff.TaskGroups[].Tasks[].Fields[].Old", "Diff.TaskGroups[].Tasks[].Fields[].New",
		"Annotations.DesiredTGUpdates", "FailedTGAllocs", "Warnings"}
	jobFields   = []string{"ID", "Name", "Type", "Version", "Stable", "Status", "Datacenters", "Region", "Namespace", "TaskGroups[].Name", "TaskGroups[].Count", "TaskGroups[].Tasks[].Env", "TaskGroups[].Tasks[].Driver"}
	allocFields = []string{"[].TaskGroup", "[].ClientStatus", "[].DesiredStatus", "[].JobVersion"}
)

// conformance is the one table: the requests the nomad builtin sends (probe, plan,
// enforced register, info, versions, summary, allocations, evaluations, deployments,
// stop), and the errors it relies on.
var conformance = []fakecheck.Case{
	{Name: "probe", Steps: []fakecheck.Step{
		{Method: "GET", Path: "/v1/status/leader"},
		{Method: "GET", Path: "/v1/job/conf", Text: true},
		{Method: "GET", Path: "/v1/job/conf/versions", Text: true},
	}},
	{Name: "plan, register, wait, update, stop", Steps: []fakecheck.Step{
		{Method: "PUT", Path: "/v1/job/conf/plan", Body: `{"Job":` + job("80") + `,"Diff":true}`, Pick: planFields, Save: map[string]string{"jmi": "JobModifyIndex"}},
		{Method: "PUT", Path: "/v1/jobs", Body: `{"Job":` + job("80") + `,"EnforceIndex":true,"JobModifyIndex":{jmi}}`, Pick: []string{"Warnings"}, Save: map[string]string{"eval": "EvalID"}},
		{Method: "GET", Path: "/v1/evaluation/{eval}", Pick: []string{"Status", "Type", "TriggeredBy", "JobID"}, Until: map[string]string{"Status": "complete"}},
		{Method: "GET", Path: "/v1/job/conf/allocations", Pick: allocFields, Until: map[string]string{"[0].ClientStatus": "running"}},
		{Method: "GET", Path: "/v1/job/conf/deployment", Pick: []string{"Status", "JobVersion", "TaskGroups.g.DesiredTotal", "TaskGroups.g.HealthyAllocs"}, Until: map[string]string{"Status": "successful"}},
		{Method: "GET", Path: "/v1/job/conf/summary", Pick: []string{"JobID", "Summary.g.Running", "Summary.g.Starting", "Summary.g.Queued"}, Until: map[string]string{"Summary.g.Running": "1"}},
		{Method: "GET", Path: "/v1/job/conf", Pick: jobFields, Until: map[string]string{"Stable": "true", "Status": "running"}},
		// the same job again: no change in the plan
		{Method: "PUT", Path: "/v1/job/conf/plan", Body: `{"Job":` + job("80") + `,"Diff":true}`, Pick: planFields},
		// a change: its plan shows exactly that diff, and the update is enforced
		{Method: "PUT", Path: "/v1/job/conf/plan", Body: `{"Job":` + job("8080") + `,"Diff":true}`, Pick: planFields, Save: map[string]string{"jmi": "JobModifyIndex"}},
		{Method: "PUT", Path: "/v1/jobs", Body: `{"Job":` + job("8080") + `,"EnforceIndex":true,"JobModifyIndex":0}`, Text: true},
		{Method: "PUT", Path: "/v1/jobs", Body: `{"Job":` + job("8080") + `,"EnforceIndex":true,"JobModifyIndex":{jmi}}`, Pick: []string{"Warnings"}, Save: map[string]string{"eval": "EvalID"}},
		{Method: "GET", Path: "/v1/evaluation/{eval}", Pick: []string{"Status", "Type", "TriggeredBy"}, Until: map[string]string{"Status": "complete"}},
		{Method: "GET", Path: "/v1/job/conf/versions", Pick: []string{"Versions[].Version", "Versions[].TaskGroups[].Tasks[].Env"}},
		{Method: "GET", Path: "/v1/job/conf/deployment", Pick: []string{"Status", "JobVersion"}, Until: map[string]string{"Status": "successful", "JobVersion": "1"}},
		{Method: "GET", Path: "/v1/job/conf/allocations", Pick: allocFields, Until: map[string]string{"[0].ClientStatus": "running"}},
		{Method: "GET", Path: "/v1/job/conf", Pick: jobFields, Until: map[string]string{"Stable": "true"}},
		{Method: "GET", Path: "/v1/job/conf/allocations?all=true", Pick: allocFields, Until: map[string]string{"[0].ClientStatus": "running"}},
		// stop, then purge
		{Method: "DELETE", Path: "/v1/job/conf", Pick: []string{"JobModifyIndex"}, Save: map[string]string{"eval": "EvalID"}},
		{Method: "GET", Path: "/v1/evaluation/{eval}", Pick: []string{"Status", "TriggeredBy"}, Until: map[string]string{"Status": "complete"}},
		{Method: "GET", Path: "/v1/job/conf", Pick: []string{"Stop", "Status"}, Until: map[string]string{"Status": "dead"}},
		{Method: "GET", Path: "/v1/job/conf/allocations", Pick: allocFields, Until: map[string]string{"[0].ClientStatus": "complete"}},
		{Method: "DELETE", Path: "/v1/job/conf?purge=true", Pick: []string{}},
		{Method: "GET", Path: "/v1/job/conf", Text: true},
		{Method: "DELETE", Path: "/v1/job/conf", Pick: []string{"JobModifyIndex"}},
	}},
	{Name: "refusals", Steps: []fakecheck.Step{
		{Method: "PUT", Path: "/v1/jobs", Body: `{"Job":{"ID":"bad","Name":"bad","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Count":-1,"Tasks":[]}]}}`, Text: true},
		{Method: "PUT", Path: "/v1/job/bad/plan", Body: `{"Job":{"ID":"bad","Name":"bad","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Vault":{"Policies":["p"]}}]}]},"Diff":true}`, Text: true},
		{Method: "PUT", Path: "/v1/job/other/plan", Body: `{"Job":` + job("80") + `,"Diff":true}`, Text: true},
		{Method: "PUT", Path: "/v1/jobs", Body: `{"Job":{"Name":"noid"}}`, Text: true},
		{Method: "GET", Path: "/v1/evaluation/00000000-0000-0000-0000-000000000000", Text: true},
		{Method: "GET", Path: "/v1/job/conf?region=elsewhere", Text: true},
	}},
}

func TestConformance(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	if err := os.WriteFile(cfg, []byte(startingAgentConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	real, err := nomadtest.New(nomadtest.Config{AgentConfigPath: cfg, DataDir: t.TempDir(), SimulateDrivers: Drivers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(real.Close)
	text := startingAgentConfig
	fake, err := New(Options{AgentConfig: &text})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fakecheck.Run(t, conformance, fake, real.URL, nil)
}
