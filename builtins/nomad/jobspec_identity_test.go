package nomad

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestWorkloadIdentityJobSpec: the Nomad 1.7+ job spec pieces map to the api fields
// Nomad decodes, and render as the HCL jobspec writes them.
func TestWorkloadIdentityJobSpec(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		check  func(j *api.Job) bool
		render []string
	}{
		{"job-level vault role reaches every task without its own",
			`job = nomad.job("j", vault = nomad.vault(role = "nomad-workloads"), groups = [
    nomad.group("a", tasks = [nomad.task("t1", driver = "raw_exec"), nomad.task("t2", driver = "raw_exec", vault = nomad.vault(role = "other"))]),
    nomad.group("b", tasks = [nomad.task("t3", driver = "raw_exec")]),
])`,
			func(j *api.Job) bool {
				a, b := j.TaskGroups[0].Tasks, j.TaskGroups[1].Tasks
				return a[0].Vault.Role == "nomad-workloads" && a[1].Vault.Role == "other" && b[0].Vault.Role == "nomad-workloads" &&
					a[0].Vault.Policies == nil && a[0].Vault != b[0].Vault // each task its own copy
			},
			[]string{"vault {\n        role = \"nomad-workloads\"\n      }", "vault {\n        role = \"other\"\n      }"}},
		{"group-level vault wins over the job's",
			`job = nomad.job("j", vault = nomad.vault(role = "job-role"), groups = [
    nomad.group("a", vault = nomad.vault(role = "group-role", cluster = "default", allow_token_expiration = True), tasks = [nomad.task("t", driver = "raw_exec")]),
])`,
			func(j *api.Job) bool {
				v := j.TaskGroups[0].Tasks[0].Vault
				return v.Role == "group-role" && v.Cluster == "default" && *v.AllowTokenExpiration
			},
			[]string{`role                   = "group-role"`, `allow_token_expiration = true`}},
		{"identities",
			`job = nomad.job("j", groups = [nomad.group("g", tasks = [nomad.task("t", driver = "raw_exec", identities = [
    nomad.identity(env = True, file = True),
    nomad.identity("vault_default", aud = ["vault.io"], ttl = "1h", change_mode = "signal", change_signal = "SIGHUP"),
])])])`,
			func(j *api.Job) bool {
				ids := j.TaskGroups[0].Tasks[0].Identities
				return len(ids) == 2 && ids[0].Name == "" && ids[0].Env && ids[0].File &&
					ids[1].Name == "vault_default" && reflect.DeepEqual(ids[1].Audience, []string{"vault.io"}) && ids[1].TTL == time.Hour &&
					ids[1].ChangeMode == "signal" && ids[1].ChangeSignal == "SIGHUP"
			},
			[]string{"identity {\n        env  = true\n        file = true\n      }", `name          = "vault_default"`, `aud           = ["vault.io"]`, `ttl           = "1h"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := buildJob(t, tc.src)
			if !tc.check(js.v) {
				b, _ := jsonOf(js.v)
				t.Errorf("api job:\n%s", b)
			}
			text := renderJob(js.v, js.taint)
			for _, want := range tc.render {
				if !strings.Contains(text, want) {
					t.Errorf("rendered job lacks %q:\n%s", want, text)
				}
			}
			if _, err := roundTrip(js.v); err != nil {
				t.Errorf("does not decode strictly into api.Job: %v", err)
			}
		})
	}
}

func TestWorkloadIdentitySpecErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`nomad.identity("x", change_mode = "signal")`, `change_mode = "signal" needs a change_signal`},
		{`nomad.identity("x", change_mode = "reload")`, `"reload" is not one of`},
		{`nomad.identity("x", audience = ["a"])`, `unknown field "audience"`},
		{`nomad.task("t", driver = "x", identities = [nomad.identity("a"), nomad.identity("a")])`, `two identities are named "a"`},
		{`nomad.task("t", driver = "x", identities = [nomad.vault(role = "r")])`, `want nomad.identity values, got nomad.vault`},
		{`nomad.job("j", vault = [nomad.vault(role = "r")])`, `want a nomad.vault value, not list`},
		{`nomad.vault(rol = "r")`, `(did you mean "role"?)`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := execBuilders(t, "x = "+tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
			}
		})
	}
}

func jsonOf(j *api.Job) ([]byte, error) { return json.MarshalIndent(j, "", "  ") }

// roundTrip decodes the job's JSON into api.Job with unknown fields rejected, as the
// double (and Nomad's own strict decoding) does.
func roundTrip(j *api.Job) (*api.Job, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var back api.Job
	return &back, dec.Decode(&back)
}
