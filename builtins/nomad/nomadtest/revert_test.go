package nomadtest

import (
	"net/http"
	"strings"
	"testing"
)

func TestRevertAndEvaluate(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("r", "sleep 60")
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	job.Meta = map[string]string{"v": "1"}
	if _, _, err := client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		version uint64
		enforce *uint64
		want    string
	}{
		{"wrong prior version", 0, new(uint64(5)), "Current job has version 1; enforcing version 5"},
		{"current version", 1, nil, "can't revert to current version"},
		{"unknown version", 9, nil, `job "r" in namespace "default" at version 9 not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := client.Jobs().Revert("r", tc.version, tc.enforce, nil, "", "")
			if err == nil || statusOf(err) != 500 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want 500 %q", err, tc.want)
			}
		})
	}

	resp, _, err := client.Jobs().Revert("r", 0, new(uint64(1)), nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := client.Jobs().Info("r", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Version != 2 || len(got.Meta) != 0 || *got.JobModifyIndex != resp.JobModifyIndex {
		t.Errorf("after revert to 0: version %d meta %v", *got.Version, got.Meta)
	}

	// A 1.6 client's revert request still carries the tokens.
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/job/r/revert",
		strings.NewReader(`{"JobID":"r","JobVersion":1,"VaultToken":"","ConsulToken":""}`))
	if hr, err := http.DefaultClient.Do(req); err != nil || hr.StatusCode != 200 {
		t.Errorf("1.6 revert body: %v %v", hr.Status, err)
	}

	if _, _, err := client.Jobs().ForceEvaluate("nope", nil); err == nil || !strings.Contains(err.Error(), "job not found") {
		t.Errorf("evaluate unknown job: %v", err)
	}
	evalID, _, err := client.Jobs().ForceEvaluate("r", nil)
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err := client.Evaluations().Info(evalID, nil)
	if err != nil || eval.TriggeredBy != "job-register" || eval.JobID != "r" || eval.Status != "complete" {
		t.Errorf("forced evaluation %+v %v", eval, err)
	}
}
