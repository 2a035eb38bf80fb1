package nomad

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// recordOf is the one record of r whose address is addr.
func recordOf(t *testing.T, r runtimetest.Result, addr string) *runtime.Record {
	t.Helper()
	for _, rec := range r.Res.Records {
		if rec.Address == addr {
			return rec
		}
	}
	t.Fatalf("no record %s in:\n%s", addr, r.Plan)
	return nil
}

// agent_config's resource: its read's fingerprint hashes the vault block as written
// (and moves when the block does), and its Delete removes the block, keeping every
// other byte, and then runs on_change. No server is needed: the file is local.
func TestAgentConfigFingerprintAndDelete(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	marker := filepath.Join(dir, "restarts")
	before, after := "data_dir = \"/opt/nomad/data\"\n# vault comes next\n", "client {\n  enabled = true\n}\n"
	write := func(addr string) {
		t.Helper()
		block := "vault {\n  enabled = true\n  address = \"" + addr + "\"\n}\n"
		if err := os.WriteFile(cfg, []byte(before+block+after), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := runtimetest.Script(t, map[string]string{"main.star": `nomad.agent_config("` + cfg + `", vault = {"enabled": True, "address": var("addr", "http://vault:8200")}, on_change = ["/bin/sh", "-c", "echo restarted >> ` + marker + `"])` + "\n"})
	env := []string{"NOMAD_ADDR=" + closedAddr(t)} // agent_config never asks Nomad
	addr := `nomad agent_config "` + cfg + `"`

	write("http://vault:8200")
	r := runScript(t, script, runConfig{mode: runtime.Apply, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	rec := recordOf(t, r, addr)
	if rec.Action != runtime.Unchanged || !strings.HasPrefix(string(rec.Fingerprint), "sha256:") || rec.Delete == nil {
		t.Fatalf("record: action %s, fingerprint %q, delete recorded: %v", rec.Action, rec.Fingerprint, rec.Delete != nil)
	}
	first := rec.Fingerprint

	write("http://other:8200")
	r = runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if fp := recordOf(t, r, addr).Fingerprint; fp == first || !strings.HasPrefix(string(fp), "sha256:") {
		t.Errorf("fingerprint after the block changed: %q (before %q)", fp, first)
	}

	write("http://vault:8200")
	if err := rec.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cfg); string(b) != before+after {
		t.Errorf("after Delete the file reads:\n%s\nwant:\n%s", b, before+after)
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("on_change ran %q times after Delete, want once", b)
	}
	// Gone is gone: a second Delete changes nothing and restarts nothing.
	if err := rec.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("a Delete of no block ran on_change: %q", b)
	}
	r = runScript(t, script, runConfig{mode: runtime.Plan, env: env})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if rec := recordOf(t, r, addr); rec.Fingerprint != runtime.Absent || rec.Action != runtime.Create {
		t.Errorf("after Delete: action %s, fingerprint %q; want create, %q", rec.Action, rec.Fingerprint, runtime.Absent)
	}
}

// nomad.run's resource: its read's fingerprint is the job's modify index, absent before
// the first register; its Delete stops and purges the job.
func TestRunFingerprintAndDelete(t *testing.T) {
	srv := startDouble(t, "", "")
	env := doubleEnv(srv)
	script := runtimetest.Script(t, map[string]string{"main.star": sleeperJob})
	cfg := runConfig{mode: runtime.Apply, env: env, vars: []string{"wait="}}

	r := runScript(t, script, cfg)
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if rec := recordOf(t, r, `nomad job "sleeper"`); rec.Fingerprint != runtime.Absent || rec.Delete == nil {
		t.Fatalf("first register: fingerprint %q, delete recorded: %v", rec.Fingerprint, rec.Delete != nil)
	}
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := c.Jobs().Info("sleeper", nil)
	if err != nil {
		t.Fatal(err)
	}
	r = runScript(t, script, cfg)
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	rec := recordOf(t, r, `nomad job "sleeper"`)
	if want := runtime.IndexFingerprint(*job.JobModifyIndex); rec.Action != runtime.Unchanged || rec.Fingerprint != want {
		t.Fatalf("second run: action %s, fingerprint %q, want unchanged, %q", rec.Action, rec.Fingerprint, want)
	}
	if err := rec.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Info("sleeper", nil); !isNotFound(err) {
		t.Errorf("after Delete the job is still there (purge not done): %v", err)
	}
}

// The current value of an attribute that is not a literal is shown as written, and an
// empty token is no token (so a 0644 file is left 0644): both read the attribute's own
// text from the file.
func TestAgentConfigReadsAttributeText(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	src := "data_dir = \"/opt/nomad/data\"\n\nvault {\n  enabled = true\n  token   = \"\"\n  address = \"http://${host}:8200\"\n}\n"
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	script := runtimetest.Script(t, map[string]string{"main.star": `nomad.agent_config("` + cfg + `", vault = {"enabled": True, "address": "http://vault:8200"})` + "\n"})
	r := runScript(t, script, runConfig{mode: runtime.Plan, env: []string{"NOMAD_ADDR=" + closedAddr(t)}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, `~ vault.address: "http://${host}:8200" -> "http://vault:8200"`)
	// Not a bare "0600": the temp dir's random name may hold it.
	mustNotContain(t, "plan", r.Plan, "~ mode:", "-> 0600", "mode 0600")
}
