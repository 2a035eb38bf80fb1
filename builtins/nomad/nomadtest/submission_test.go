package nomadtest

import (
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestJobSubmissions(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("src", "sleep 60")
	job.TaskGroups[0].Count = new(0)
	if _, _, err := client.Jobs().Submission("src", 0, nil); statusOf(err) != 404 || !strings.Contains(err.Error(), "job source not found") {
		t.Fatalf("before any register: %v", err)
	}
	for v, src := range []string{"source v0", "source v1"} {
		job.Meta = map[string]string{"v": src}
		_, _, err := client.Jobs().RegisterOpts(job, &api.RegisterOptions{Submission: &api.JobSubmission{
			Source: src, Format: "hcl2", VariableFlags: map[string]string{"n": strings.Repeat("x", v+1)},
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	for v, want := range []string{"source v0", "source v1"} {
		sub, _, err := client.Jobs().Submission("src", v, nil)
		if err != nil || sub.Source != want || sub.Format != "hcl2" || sub.VariableFlags["n"] != strings.Repeat("x", v+1) {
			t.Errorf("version %d: %+v %v", v, sub, err)
		}
	}
	if code, _, _, body := get(t, srv, "/v1/job/src/submission?version=x"); code != 400 || !strings.Contains(body, "version") {
		t.Errorf("bad version: %d %s", code, body)
	}

	// Too large a source is discarded with Nomad's warning; the job still registers.
	job.Meta = map[string]string{"v": "big"}
	resp, _, err := client.Jobs().RegisterOpts(job, &api.RegisterOptions{Submission: &api.JobSubmission{
		Source: strings.Repeat("#", maxSourceSize+1), Format: "hcl2",
	}}, nil)
	if err != nil || !strings.Contains(resp.Warnings, "job source size of 1.0 MB exceeds maximum of 1.0 MB and will be discarded") {
		t.Errorf("oversize source: %+v %v", resp, err)
	}
	if _, _, err := client.Jobs().Submission("src", 2, nil); statusOf(err) != 404 {
		t.Errorf("the discarded source was kept: %v", err)
	}

	// A stop keeps the sources, a purge removes them.
	if _, _, err := client.Jobs().Deregister("src", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Jobs().Submission("src", 1, nil); err != nil {
		t.Errorf("after stop: %v", err)
	}
	if _, _, err := client.Jobs().Deregister("src", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Jobs().Submission("src", 1, nil); statusOf(err) != 404 {
		t.Errorf("after purge: %v", err)
	}
}
