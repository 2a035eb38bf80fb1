package nomadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// get is a raw GET: status, X-Nomad-Index, X-Nomad-NextToken and body.
func get(t *testing.T, srv *Server, path string) (int, uint64, string, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	idx, _ := strconv.ParseUint(resp.Header.Get("X-Nomad-Index"), 10, 64)
	return resp.StatusCode, idx, resp.Header.Get("X-Nomad-NextToken"), string(b)
}

func TestTableIndexes(t *testing.T) {
	srv, client := newDouble(t, Config{})
	// Nothing written yet: each table answers 0; the node registered at index 1.
	for path, want := range map[string]uint64{
		"/v1/jobs": 0, "/v1/allocations": 0, "/v1/evaluations": 0, "/v1/deployments": 0,
		"/v1/job/x/allocations": 0, "/v1/job/x/evaluations": 0, "/v1/nodes": 1, "/v1/namespaces": 1,
	} {
		if code, idx, _, body := get(t, srv, path); code != 200 || idx != want {
			t.Errorf("GET %s: %d index %d, want index %d (%s)", path, code, idx, want, body)
		}
	}

	resp, wm, err := client.Jobs().Register(rawJob("a", "sleep 30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A write answers the index of the evaluation it created, as Nomad's register does.
	if wm.LastIndex != resp.EvalCreateIndex {
		t.Errorf("register answered index %d, its eval was created at %d", wm.LastIndex, resp.EvalCreateIndex)
	}
	job, qm, err := client.Jobs().Info("a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if qm.LastIndex != *job.ModifyIndex {
		t.Errorf("job info index %d, job ModifyIndex %d", qm.LastIndex, *job.ModifyIndex)
	}
	allocs, qm, err := client.Allocations().List(&api.QueryOptions{WaitIndex: wm.LastIndex})
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 1 || qm.LastIndex <= wm.LastIndex {
		t.Errorf("allocations after the register: %d at index %d (register at %d)", len(allocs), qm.LastIndex, wm.LastIndex)
	}

	// A blocking query on jobs wakes for a write to jobs, not for one to evaluations:
	// deregistering an unknown job writes only an evaluation. First let job a settle
	// (running, its deployment successful, the version stable: each a jobs write).
	waitFor(t, 30*time.Second, "job a stable", func() (bool, string) {
		j, _, err := client.Jobs().Info("a", nil)
		return err == nil && *j.Status == "running" && *j.Stable, fmt.Sprint(err)
	})
	_, jobsIdx, _, _ := get(t, srv, "/v1/jobs")
	type result struct {
		idx  uint64
		body string
	}
	done := make(chan result, 1)
	go func() {
		_, idx, _, body := get(t, srv, fmt.Sprintf("/v1/jobs?index=%d&wait=5m", jobsIdx))
		done <- result{idx, body}
	}()
	waitFor(t, 10*time.Second, "the blocking query", func() (bool, string) { return srv.blockingQueries() == 1, "" })
	if _, _, err := client.Jobs().Deregister("unknown", false, nil); err != nil {
		t.Fatal(err)
	}
	resp, _, err = client.Jobs().Register(rawJob("b", "sleep 30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !strings.Contains(r.body, `"ID":"b"`) || r.idx < resp.JobModifyIndex {
		t.Errorf("blocking jobs query answered at %d (job b at %d): %s", r.idx, resp.JobModifyIndex, r.body)
	}
}

func TestNoClientNode(t *testing.T) {
	srv, client := newDouble(t, Config{NoClient: true})
	nodes, qm, err := client.Nodes().List(nil)
	if err != nil || len(nodes) != 0 || qm.LastIndex != 0 {
		t.Fatalf("nodes %v at %d, err %v", nodes, qm.LastIndex, err)
	}
	resp, _, err := client.Jobs().Register(rawJob("a", "sleep 30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err := client.Evaluations().Info(resp.EvalID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eval.BlockedEval == "" || eval.FailedTGAllocs["app"] == nil || eval.FailedTGAllocs["app"].NodesEvaluated != 0 {
		t.Errorf("eval without a node: %+v", eval)
	}
	if allocs := srv.Allocations("a"); len(allocs) != 0 {
		t.Errorf("allocations without a node: %d", len(allocs))
	}
}

func TestListQueryParams(t *testing.T) {
	srv, client := newDouble(t, Config{})
	for _, id := range []string{"c", "a", "b"} {
		if _, _, err := client.Jobs().Register(rawJob(id, "sleep 30"), nil); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("filter is refused, not ignored", func(t *testing.T) {
		for _, path := range []string{"/v1/jobs", "/v1/allocations", "/v1/evaluations", "/v1/deployments", "/v1/nodes", "/v1/namespaces", "/v1/job/a/allocations"} {
			code, _, _, body := get(t, srv, path+"?filter=ID+%3D%3D+%22a%22")
			if code != 400 || !strings.HasPrefix(body, "failed to read filter expression") {
				t.Errorf("GET %s?filter=: %d %q", path, code, body)
			}
		}
	})

	t.Run("jobs pages", func(t *testing.T) {
		var ids []string
		token := ""
		for page := 0; page < 3; page++ {
			stubs, qm, err := client.Jobs().List(&api.QueryOptions{PerPage: 2, NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stubs {
				ids = append(ids, s.ID)
			}
			if page == 0 && qm.NextToken != "default.c" {
				t.Errorf("first page next token %q, want %q", qm.NextToken, "default.c")
			}
			if token = qm.NextToken; token == "" {
				break
			}
		}
		if strings.Join(ids, ",") != "a,b,c" {
			t.Errorf("paged jobs %v", ids)
		}
		stubs, _, err := client.Jobs().List(&api.QueryOptions{PerPage: 1, Reverse: true})
		if err != nil || len(stubs) != 1 || stubs[0].ID != "c" {
			t.Errorf("reverse first page %v %v", stubs, err)
		}
	})

	t.Run("evaluation pages by create index", func(t *testing.T) {
		code, _, next, body := get(t, srv, "/v1/evaluations?per_page=1")
		var evals []*api.Evaluation
		if code != 200 || json.Unmarshal([]byte(body), &evals) != nil || len(evals) != 1 {
			t.Fatalf("%d %s", code, body)
		}
		idx, id, ok := strings.Cut(next, ".")
		if !ok || len(id) != 36 || idx == "" {
			t.Fatalf("next token %q, want <create index>.<id>", next)
		}
		code, _, _, body = get(t, srv, "/v1/evaluations?per_page=5&next_token="+next)
		if code != 200 || !strings.HasPrefix(body, `[{"ID":"`+id) {
			t.Errorf("second page does not start at %s: %d %s", next, code, body)
		}
		if code, _, _, body := get(t, srv, "/v1/evaluations?per_page=x"); code != 400 || !strings.Contains(body, "per_page") {
			t.Errorf("bad per_page: %d %s", code, body)
		}
	})

	t.Run("resources", func(t *testing.T) {
		allocs, _, err := client.Allocations().List(nil)
		if err != nil || len(allocs) != 3 || allocs[0].AllocatedResources != nil {
			t.Fatalf("default list: %d %v", len(allocs), err)
		}
		allocs, _, err = client.Allocations().List(&api.QueryOptions{Params: map[string]string{"resources": "true"}})
		if err != nil || allocs[0].AllocatedResources == nil {
			t.Errorf("resources=true: allocated resources missing (%v)", err)
		}
		nodes, _, err := client.Nodes().List(&api.QueryOptions{Params: map[string]string{"resources": "true"}})
		if err != nil || nodes[0].NodeResources == nil || nodes[0].NodeResources.MaxDynamicPort != 32000 {
			t.Errorf("nodes resources=true: %+v %v", nodes, err)
		}
		if code, _, _, body := get(t, srv, "/v1/allocations?resources=maybe"); code != 400 || !strings.Contains(body, `"resources"`) {
			t.Errorf("resources=maybe: %d %s", code, body)
		}
	})
}

func TestEvalPriorityAndCreatedEvals(t *testing.T) {
	srv, client := newDouble(t, Config{})
	job := rawJob("p", "sleep 30")
	job.TaskGroups[0].Tasks[0].Driver = "docker" // missing on the node: the group is blocked
	resp, _, err := client.Jobs().RegisterOpts(job, &api.RegisterOptions{EvalPriority: 99}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eval, _, err := client.Evaluations().Info(resp.EvalID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eval.Priority != 99 || eval.BlockedEval == "" {
		t.Fatalf("eval priority %d, blocked %q", eval.Priority, eval.BlockedEval)
	}
	blocked, _, err := client.Evaluations().Info(eval.BlockedEval, nil)
	if err != nil || blocked.Priority != 99 {
		t.Errorf("blocked eval priority: %+v %v", blocked, err)
	}

	// related=true lists the chain: the blocked evaluation, seen from its parent.
	var withRelated api.Evaluation
	code, _, _, body := get(t, srv, "/v1/evaluation/"+resp.EvalID+"?related=true")
	if code != 200 || json.Unmarshal([]byte(body), &withRelated) != nil ||
		len(withRelated.RelatedEvals) != 1 || withRelated.RelatedEvals[0].ID != eval.BlockedEval {
		t.Errorf("related evals: %d %s", code, body)
	}

	plan, _, err := client.Jobs().Plan(job, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.CreatedEvals) != 1 || plan.CreatedEvals[0].Status != "blocked" ||
		plan.CreatedEvals[0].TriggeredBy != "queued-allocs" || plan.CreatedEvals[0].JobID != "p" {
		t.Fatalf("plan created evals: %+v", plan.CreatedEvals)
	}
	if _, _, err := client.Evaluations().Info(plan.CreatedEvals[0].ID, nil); statusOf(err) != 404 {
		t.Errorf("a plan's blocked evaluation was stored: %v", err)
	}
	ok := rawJob("q", "sleep 30")
	if plan, _, err := client.Jobs().Plan(ok, false, nil); err != nil || len(plan.CreatedEvals) != 0 {
		t.Errorf("placeable job: created evals %v, err %v", plan.CreatedEvals, err)
	}

	evalID, _, err := client.Jobs().DeregisterOpts("p", &api.DeregisterOptions{EvalPriority: 97}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eval, _, err := client.Evaluations().Info(evalID, nil); err != nil || eval.Priority != 97 {
		t.Errorf("deregister eval priority: %+v %v", eval, err)
	}
	for _, q := range []string{"eval_priority=101", "eval_priority=x", "purge=maybe"} {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/job/q?"+q, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("DELETE ?%s: %d, want 400", q, resp.StatusCode)
		}
	}
}
