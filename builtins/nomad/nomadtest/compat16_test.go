package nomadtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A job as a 1.6-era nomad/api client (May 2023) sends it: its api.Job still had
// ConsulToken and VaultToken, without omitempty.
func job16Body(t *testing.T, mutate func(job map[string]any)) string {
	t.Helper()
	b, err := json.Marshal(rawJob("old-client", "sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	if err := json.Unmarshal(b, &job); err != nil {
		t.Fatal(err)
	}
	job["ConsulToken"] = ""
	job["VaultToken"] = "not-a-real-token-0123"
	if mutate != nil {
		mutate(job)
	}
	body, err := json.Marshal(map[string]any{"Job": job})
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestNomad16RequestFields(t *testing.T) {
	srv, _ := newDouble(t, Config{})
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, method, path string
		mutate             func(job map[string]any)
		code               int
		want               string
	}{
		{"register", "PUT", "/v1/jobs", nil, 200, `"EvalID"`},
		{"register by ID", "POST", "/v1/job/old-client", nil, 200, `"EvalID"`},
		{"plan", "PUT", "/v1/job/old-client/plan", nil, 200, `"Annotations"`},
		{"lower-case field name", "PUT", "/v1/jobs", func(j map[string]any) {
			delete(j, "VaultToken")
			j["vaulttoken"] = ""
		}, 200, `"EvalID"`},
		{"unknown job field", "PUT", "/v1/jobs", func(j map[string]any) { j["Bogus"] = 1 }, 400, `json: unknown field "Bogus"`},
		{"1.6 field at the wrong level", "PUT", "/v1/jobs", func(j map[string]any) {
			j["TaskGroups"].([]any)[0].(map[string]any)["ConsulToken"] = ""
		}, 400, `json: unknown field "ConsulToken"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.path, job16Body(t, tc.mutate))
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.want)
			}
			if strings.Contains(body, "not-a-real-token") {
				t.Errorf("the answer echoes the submitted Vault token: %s", body)
			}
		})
	}
	// Nomad stores the job without the tokens.
	code, body := do("GET", "/v1/job/old-client", "")
	if code != 200 {
		t.Fatalf("GET job: %d %s", code, body)
	}
	for _, field := range []string{"VaultToken", "ConsulToken", "not-a-real-token"} {
		if strings.Contains(body, field) {
			t.Errorf("stored job has %s: %s", field, body)
		}
	}
}

func TestValidateJob(t *testing.T) {
	_, client := newDouble(t, Config{})
	resp, _, err := client.Jobs().Validate(rawJob("v", "sleep 1"), nil)
	if err != nil || len(resp.ValidationErrors) != 0 || resp.Error != "" || !resp.DriverConfigValidated {
		t.Fatalf("valid job: %+v %v", resp, err)
	}
	job := rawJob("v", "sleep 1")
	job.ID = nil
	job.Priority = new(101)
	resp, _, err = client.Jobs().Validate(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Missing job ID", "job priority must be between [1, 100]"}
	for _, w := range want {
		found := false
		for _, got := range resp.ValidationErrors {
			found = found || strings.Contains(got, w)
		}
		if !found {
			t.Errorf("validation errors %q lack %q", resp.ValidationErrors, w)
		}
	}
	if !strings.Contains(resp.Error, "Missing job ID") {
		t.Errorf("error %q", resp.Error)
	}
	if _, _, err := client.Jobs().Register(job, nil); err == nil {
		t.Error("the job that validate refused registers")
	}
}
