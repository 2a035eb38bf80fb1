package nomad

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestTemplateVaultAccesses(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		left, rght string
		want       []vaultAccess
		caveat     string
	}{
		{name: "no vault", data: `{{ range service "database" }}{{ .Address }}{{ end }} {{ key "a/b" }}`},
		{name: "with secret", data: `{{ with secret "database/creds/accessdb" }}{{ .Data.username }}{{ end }}`,
			want: []vaultAccess{{"database/creds/accessdb", "read"}}},
		{name: "slashes trimmed", data: `{{ with secret "/database/creds/accessdb/" }}{{ end }}`,
			want: []vaultAccess{{"database/creds/accessdb", "read"}}},
		{name: "without with", data: `{{ (secret "kv/app").Data.password }}`, want: []vaultAccess{{"kv/app", "read"}}},
		{name: "kv v2 fields", data: `{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ .Data.metadata.version }}{{ end }}`,
			want: []vaultAccess{{"secret/data/app", "read"}}},
		{name: "kv version query", data: `{{ with secret "secret/data/app?version=2" }}{{ end }}`, want: []vaultAccess{{"secret/data/app", "read"}}},
		{name: "computed path", data: `{{ $role := "accessdb" }}{{ with secret (printf "database/creds/%s" $role) }}{{ .Data.username }}{{ end }}`,
			want: []vaultAccess{{"database/creds/accessdb", "read"}}},
		{name: "nested", data: `{{ with secret "kv/outer" }}{{ with secret "kv/inner" }}{{ .Data.x }}{{ end }}{{ end }}`,
			want: []vaultAccess{{"kv/inner", "read"}, {"kv/outer", "read"}}},
		{name: "list and range", data: `{{ range secrets "kv/apps/" }}{{ with secret (printf "kv/apps/%s" .) }}{{ end }}{{ end }}`,
			want: []vaultAccess{{"kv/apps", "list"}}},
		{name: "write", data: `{{ with secret "transit/encrypt/k" "plaintext=aGk=" }}{{ .Data.ciphertext }}{{ end }}`,
			want: []vaultAccess{{"transit/encrypt/k", "update"}}},
		{name: "pki", data: `{{ with pkiCert "pki/issue/web" "common_name=web.example.com" }}{{ .Cert }}{{ end }}`,
			want: []vaultAccess{{"pki/issue/web", "update"}}},
		{name: "in if and range", data: `{{ if true }}{{ with secret "a/b" }}{{ end }}{{ else }}{{ with secret "c/d" }}{{ end }}{{ end }}`,
			want: []vaultAccess{{"a/b", "read"}, {"c/d", "read"}}},
		{name: "define", data: `{{ define "x" }}{{ with secret "t/x" }}{{ end }}{{ end }}{{ template "x" }}`, want: []vaultAccess{{"t/x", "read"}}},
		{name: "delimiters", data: `[[ with secret "database/creds/ro" ]][[ .Data.username ]][[ end ]] {{ not a template }}`, left: "[[", rght: "]]",
			want: []vaultAccess{{"database/creds/ro", "read"}}},
		{name: "env path", data: `{{ with secret (printf "kv/%s" (env "NOMAD_JOB_NAME")) }}{{ end }}`, want: []vaultAccess{{"kv/web", "read"}}},
		{name: "denied function is not run", data: `{{ with secret "kv/a" }}{{ end }}{{ plugin "/bin/touch" "x" }}`,
			want: []vaultAccess{{"kv/a", "read"}}, caveat: "could not be fully evaluated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, caveat, err := templateVaultAccesses(tc.data, tc.left, tc.rght, []string{"NOMAD_JOB_NAME=web"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("accesses = %v, want %v", got, tc.want)
			}
			if !strings.Contains(caveat, tc.caveat) || (tc.caveat == "" && caveat != "") {
				t.Errorf("caveat = %q, want %q", caveat, tc.caveat)
			}
		})
	}
}

// The guide's own template (step 14), as the guide job builds it from db_mount and
// db_role.
func TestGuideTemplatePath(t *testing.T) {
	vars := strings.NewReplacer(`db_mount = "database"`, `db_mount = "db-prod"`, `db_role = "accessdb"`, `db_role = "readonly"`).Replace(guideVars)
	g, err := execBuilders(t, vars+guideJobs)
	if err != nil {
		t.Fatal(err)
	}
	tm := g["web_job"].(*spec[api.Job]).v.TaskGroups[0].Tasks[0].Templates[0]
	got, caveat, err := templateVaultAccesses(*tm.EmbeddedTmpl, "", "", nil)
	if err != nil || caveat != "" {
		t.Fatalf("err %v, caveat %q", err, caveat)
	}
	if want := []vaultAccess{{"db-prod/creds/readonly", "read"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTemplateParseError(t *testing.T) {
	_, _, err := templateVaultAccesses(`{{ with secret "a/b" }}unclosed`, "", "", nil)
	if err == nil || !strings.Contains(err.Error(), "parse") {
		t.Fatalf("err = %v", err)
	}
}

// The guide prints its template comment as "{{ /* ... */ }}", which consul-template
// cannot parse: the preflight says so before anything is deployed.
func TestGuideVerbatimCommentDoesNotParse(t *testing.T) {
	_, _, err := templateVaultAccesses(`{{ with secret "database/creds/accessdb" }}
    {{ /* Ensure password is a properly escaped JSON string. */ }}
{{ end }}`, "", "", nil)
	if err == nil || !strings.Contains(err.Error(), `unexpected "/" in command`) {
		t.Fatalf("err = %v", err)
	}
}
