package nomadtest

import (
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestJobScaling(t *testing.T) {
	_, client := newDouble(t, Config{})
	jobs := client.Jobs()
	job := rawJob("sc", "sleep 60")
	job.TaskGroups[0].Scaling = &api.ScalingPolicy{Min: new(int64(1)), Max: new(int64(3)), Policy: map[string]any{}}
	if _, _, err := jobs.ScaleStatus("sc", nil); statusOf(err) != 404 {
		t.Fatalf("status of a missing job: %v", err)
	}
	reg, _, err := jobs.Register(job, nil)
	if err != nil {
		t.Fatal(err)
	}

	errs := []struct {
		name  string
		group string
		count *int
		isErr bool
		code  int
		want  string
	}{
		{"no group", "", new(2), false, 400, "missing task group name for scaling action"},
		{"unknown group", "nope", new(2), false, 400, `task group "nope" specified for scaling does not exist in job`},
		{"negative", "app", new(-1), false, 400, "scaling action count can't be negative"},
		{"count with error", "app", new(2), true, 400, "scaling action should not contain count if error is true"},
		{"above the policy", "app", new(4), false, 400, "group count was greater than scaling policy maximum: 4 > 3"},
		{"below the policy", "app", new(0), false, 400, "group count was less than scaling policy minimum: 0 < 1"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := jobs.Scale("sc", tc.group, tc.count, "m", tc.isErr, nil, nil)
			if statusOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %d %q", err, tc.code, tc.want)
			}
		})
	}
	if _, _, err := jobs.Scale("missing", "app", new(2), "m", false, nil, nil); statusOf(err) != 404 || !strings.Contains(err.Error(), `job "missing" not found`) {
		t.Errorf("missing job: %v", err)
	}

	resp, _, err := jobs.Scale("sc", "app", new(2), "more", false, map[string]any{"k": "v"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.EvalID == "" || resp.JobModifyIndex <= reg.JobModifyIndex {
		t.Errorf("scale answer %+v (register at %d)", resp, reg.JobModifyIndex)
	}
	got, _, err := jobs.Info("sc", nil)
	if err != nil || *got.TaskGroups[0].Count != 2 || *got.Version != 1 {
		t.Fatalf("after scaling: count %d version %d %v", *got.TaskGroups[0].Count, *got.Version, err)
	}
	// An informative event (no count) changes nothing and evaluates nothing.
	noop, _, err := jobs.Scale("sc", "app", nil, "just saying", false, nil, nil)
	if err != nil || noop.EvalID != "" || noop.JobModifyIndex != resp.JobModifyIndex {
		t.Errorf("no-count scale %+v %v", noop, err)
	}
	status, _, err := jobs.ScaleStatus("sc", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := status.TaskGroups["app"]
	if st.Desired != 2 || len(st.Events) != 2 || st.Events[0].Message != "just saying" || st.Events[0].EvalID != nil ||
		st.Events[1].Message != "more" || *st.Events[1].EvalID != resp.EvalID || st.Events[1].PreviousCount != 1 || *st.Events[1].Count != 2 {
		t.Errorf("scale status %+v", st)
	}
}
