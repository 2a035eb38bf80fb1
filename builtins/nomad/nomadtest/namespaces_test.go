package nomadtest

import (
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestNamespaces(t *testing.T) {
	_, client := newDouble(t, Config{})
	nss := client.Namespaces()
	job := rawJob("ns-job", "sleep 60")
	if _, _, err := client.Jobs().Register(job, &api.WriteOptions{Namespace: "team"}); err == nil ||
		!strings.Contains(err.Error(), `job "ns-job" is in nonexistent namespace "team"`) {
		t.Fatalf("register in a missing namespace: %v", err)
	}
	if _, err := nss.Register(&api.Namespace{Name: "team", Description: "a team"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Jobs().Register(job, &api.WriteOptions{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	list, _, err := nss.List(nil)
	if err != nil || len(list) != 2 {
		t.Fatalf("namespaces %v %v", list, err)
	}
	if _, _, err := nss.List(&api.QueryOptions{PerPage: 1}); statusOf(err) != 400 {
		t.Errorf("paging namespaces is refused, not ignored: %v", err)
	}
	got, _, err := nss.Info("team", nil)
	if err != nil || got.Description != "a team" || got.CreateIndex == 0 {
		t.Errorf("info %+v %v", got, err)
	}
	if _, _, err := nss.Info("nope", nil); statusOf(err) != 404 {
		t.Errorf("missing namespace: %v", err)
	}
	if jobs, _, _ := client.Jobs().List(nil); len(jobs) != 0 {
		t.Errorf("the default namespace lists %d jobs", len(jobs))
	}
	if jobs, _, _ := client.Jobs().List(&api.QueryOptions{Namespace: "team"}); len(jobs) != 1 {
		t.Errorf("namespace team lists %d jobs", len(jobs))
	}

	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"bad name", func() error { _, err := nss.Register(&api.Namespace{Name: "a b"}, nil); return err }, `Invalid namespace "a b"`},
		{"delete default", func() error { _, err := nss.Delete("default", nil); return err }, "can not delete default namespace"},
		{"delete missing", func() error { _, err := nss.Delete("nope", nil); return err }, `namespace "nope" doesn't exist`},
		{"delete with a job", func() error { _, err := nss.Delete("team", nil); return err }, `namespace "team" has non-terminal jobs in regions: [global]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, _, err := client.Jobs().Deregister("ns-job", true, &api.WriteOptions{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Delete("team", nil); err != nil {
		t.Errorf("delete an empty namespace: %v", err)
	}
}
