package nomad

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// agentHCL is a server+client agent config with comments, HCL 1-only syntax (a quoted
// attribute name) and blocks before and after the vault block.
const agentHCL = `# Nomad agent configuration
data_dir  = "/opt/nomad/data"
bind_addr = "0.0.0.0" // all interfaces

server {
  enabled          = true
  bootstrap_expect = 1
}

client {
  enabled = true
  options {
    "driver.raw_exec.enable" = "1"
  }
}

# Vault integration
vault {
  enabled = false # turned on by step 7
  address = "http://127.0.0.1:8200"
  namespace = "old-ns"
}

telemetry {
  publish_allocation_metrics = true
}
`

const oldToken = "hvs.OLD-server-token-1111"
const newToken = "hvs.NEW-server-token-2222"

// agentScript is a step-7 script: the token comes from a sensitive var, as it would
// from vault.token.
func agentScript(t *testing.T, path, onChange string) string {
	t.Helper()
	return runtimetest.Script(t, map[string]string{"main.star": `
tok = var("tok", "", sensitive = True)
ns = var("ns", "")
res = nomad.agent_config("` + path + `", vault = {
    "enabled": True,
    "address": "http://vault.service.consul:8200",
    "task_token_ttl": "1h",
    "create_from_role": "nomad-cluster",
    "token": tok,
    "namespace": ns,
}` + onChange + `)
print("changed:", res.changed)
`})
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestAgentConfigEditsOnlyTheVaultBlock(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	if err := os.WriteFile(cfg, []byte(agentHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "restarts")
	onChange := `, on_change = ["/bin/sh", "-c", "echo restarted >> ` + marker + `"]`
	script := agentScript(t, cfg, onChange)
	vars := []string{"tok=" + newToken}

	// Plan: the diff, attribute by attribute; the token redacted; nothing written or run.
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan,
		`~  nomad agent_config "`+cfg+`"`, "vault {} block: 6 attributes to change",
		`~ vault.enabled: false -> true`,
		`~ vault.address: "http://127.0.0.1:8200" -> "http://vault.service.consul:8200"`,
		`+ vault.task_token_ttl: "1h"`,
		`+ vault.create_from_role: "nomad-cluster"`,
		`+ vault.token: (sensitive)`,
		`- vault.namespace: "old-ns"`,
		`~ mode: 0644 -> 0600`,
		"# then runs: /bin/sh -c echo restarted >> ")
	mustNotContain(t, "plan", r.All(), newToken)
	if b, _ := os.ReadFile(cfg); string(b) != agentHCL {
		t.Fatal("plan changed the file")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("plan ran on_change")
	}

	// Apply: only the vault block changes; 0600; on_change runs once.
	before := inode(t, cfg)
	r = runScript(t, script, runConfig{mode: runtime.Apply, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "output", r.Out, "changed: True")
	got, _ := os.ReadFile(cfg)
	start := strings.Index(agentHCL, "vault {")
	end := strings.Index(agentHCL, "telemetry {")
	oldBlockEnd := strings.LastIndex(agentHCL[:end], "}") + 1
	if !strings.HasPrefix(string(got), agentHCL[:start]) {
		t.Errorf("bytes before the vault block changed:\n%s", got)
	}
	if !strings.HasSuffix(string(got), agentHCL[oldBlockEnd:]) {
		t.Errorf("bytes after the vault block changed:\n%s", got)
	}
	block := string(got)[start : len(got)-len(agentHCL[oldBlockEnd:])]
	wantBlock := `vault {
  enabled          = true # turned on by step 7
  address          = "http://vault.service.consul:8200"
  task_token_ttl   = "1h"
  create_from_role = "nomad-cluster"
  token            = "` + newToken + `"
}`
	if block != wantBlock {
		t.Errorf("vault block:\n%s\nwant:\n%s", block, wantBlock)
	}
	if m := fileMode(t, cfg); m != 0o600 {
		t.Errorf("mode %o, want 0600", m)
	}
	if inode(t, cfg) == before {
		t.Error("the file was written in place, not replaced atomically")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".nvrun-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("on_change ran %q", b)
	}
	mustNotContain(t, "apply output", r.All(), newToken)

	// Again: Unchanged, the file untouched, on_change not run.
	after := inode(t, cfg)
	r = runScript(t, script, runConfig{mode: runtime.Apply, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if s := r.Res.Summary(); s.Unchanged != 1 || s.Update+s.Create != 0 {
		t.Errorf("second apply: %+v", s)
	}
	mustContain(t, "output", r.Out, "changed: False")
	if inode(t, cfg) != after {
		t.Error("an unchanged config was rewritten")
	}
	if b, _ := os.ReadFile(marker); string(b) != "restarted\n" {
		t.Errorf("on_change ran again: %q", b)
	}

	// A new token: the diff says so without showing either.
	r = runScript(t, script, runConfig{mode: runtime.Plan, vars: []string{"tok=" + oldToken}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, "~ vault.token: (sensitive) -> (sensitive)")
	mustNotContain(t, "plan", r.All(), newToken, oldToken)
}

func TestAgentConfigCreatesFile(t *testing.T) {
	for _, tc := range []struct {
		name, tok string
		mode      os.FileMode
	}{{"with token", newToken, 0o600}, {"without token", "", 0o644}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "nomad.d", "nomad.hcl")
			script := agentScript(t, cfg, "")
			r := runScript(t, script, runConfig{mode: runtime.Plan, vars: []string{"tok=" + tc.tok}})
			if r.Err != nil {
				t.Fatal(r.ErrMsg)
			}
			mustContain(t, "plan", r.Plan, `+  nomad agent_config "`+cfg+`"`, "new file, vault {} block with ")
			r = runScript(t, script, runConfig{mode: runtime.Apply, vars: []string{"tok=" + tc.tok}})
			if r.Err != nil {
				t.Fatal(r.ErrMsg)
			}
			got, _ := os.ReadFile(cfg)
			want := "vault {\n  enabled          = true\n  address          = \"http://vault.service.consul:8200\"\n  task_token_ttl   = \"1h\"\n  create_from_role = \"nomad-cluster\"\n"
			if tc.tok != "" {
				want += "  token            = \"" + tc.tok + "\"\n"
			}
			want += "}\n"
			if string(got) != want {
				t.Errorf("file:\n%s\nwant:\n%s", got, want)
			}
			if m := fileMode(t, cfg); m != tc.mode {
				t.Errorf("mode %o, want %o", m, tc.mode)
			}
		})
	}
}

func TestAgentConfigAppendsBlock(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	orig := strings.Replace(agentHCL, agentHCL[strings.Index(agentHCL, "# Vault"):strings.Index(agentHCL, "telemetry")], "", 1)
	orig = strings.TrimSuffix(orig, "\n") // no final newline: still appended cleanly
	if err := os.WriteFile(cfg, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	// Through a symlink, as /etc/nomad.d/nomad.hcl often is: the target is replaced.
	link := filepath.Join(dir, "link.hcl")
	if err := os.Symlink(cfg, link); err != nil {
		t.Fatal(err)
	}
	script := agentScript(t, link, "")
	r := runScript(t, script, runConfig{mode: runtime.Plan, vars: []string{"tok="}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, "new vault {} block with 4 attributes")
	mustNotContain(t, "plan", r.Plan, "mode")
	if r = runScript(t, script, runConfig{mode: runtime.Apply, vars: []string{"tok="}}); r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	got, _ := os.ReadFile(cfg)
	if !strings.HasPrefix(string(got), orig+"\n\nvault {\n") {
		t.Errorf("file:\n%s", got)
	}
	if m := fileMode(t, cfg); m != 0o640 {
		t.Errorf("mode %o, want the old 0640 (no token)", m)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
}

func TestAgentConfigOnChangeFailure(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	// The failing command prints the config, token included: the error shows its output,
	// redacted.
	script := agentScript(t, cfg, `, on_change = ["/bin/sh", "-c", "cat `+cfg+`; echo restart failed >&2; exit 3"]`)
	r := runScript(t, script, runConfig{mode: runtime.Apply, vars: []string{"tok=" + newToken}})
	if r.Err == nil {
		t.Fatal("no error")
	}
	mustContain(t, "error", r.ErrMsg, "was written, but on_change", "/bin/sh -c cat", "exit status 3", "restart failed", "token            = \"(sensitive)\"")
	mustNotContain(t, "output", r.All(), newToken)
}

func TestAgentConfigErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	for _, tc := range []struct{ src, want string }{
		{`nomad.agent_config("` + cfg + `", vault = {"create_from_roll": "x"})`, `unknown field "create_from_roll" (did you mean "create_from_role"?)`},
		{`nomad.agent_config("` + cfg + `", vault = {"enabled": {}})`, `vault.enabled: want a string, bool, number or list of strings, not dict`},
		{`nomad.agent_config("` + cfg + `", vault = {}, on_change = [])`, `on_change: give a command`},
		{`nomad.agent_config("x.json", vault = {})`, `JSON agent configs are not supported`},
	} {
		r := runScript(t, runtimetest.Script(t, map[string]string{"main.star": tc.src}), runConfig{mode: runtime.Plan, offline: true})
		if r.Err == nil || !strings.Contains(r.ErrMsg, tc.want) {
			t.Errorf("%s: error %q, want %q", tc.src, r.ErrMsg, tc.want)
		}
	}
	// Two vault blocks are ambiguous.
	if err := os.WriteFile(cfg, []byte("vault {\n}\nvault {\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runScript(t, runtimetest.Script(t, map[string]string{"main.star": `nomad.agent_config_read("` + cfg + `")`}), runConfig{mode: runtime.Plan, offline: true})
	if r.Err == nil || !strings.Contains(r.ErrMsg, "a second top-level vault block") {
		t.Errorf("error %q", r.ErrMsg)
	}
}

func TestAgentConfigRead(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	script := runtimetest.Script(t, map[string]string{"main.star": `
tok = var("tok", "", sensitive = True)
cur = nomad.agent_config_read("` + cfg + `")
print("enabled:", cur.enabled, "address:", cur.address, "ttl:", cur.task_token_ttl, "role:", cur.create_from_role, "ns:", cur.namespace)
print("token:", cur.token, type(cur.token), "same:", cur.token == tok if cur.token else None)
print("extra:", getattr(cur, "tls_skip_verify", "-"))
`})
	vars := []string{"tok=" + newToken}

	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "missing file", r.Out, "enabled: None address: None ttl: None role: None ns: None", "token: None NoneType same: None", "extra: -")

	if err := os.WriteFile(cfg, []byte(agentHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = runScript(t, agentScript(t, cfg, ""), runConfig{mode: runtime.Apply, vars: vars}); r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(mustRead(t, cfg), "vault {", "vault {\n  tls_skip_verify = true", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runScript(t, script, runConfig{mode: runtime.Plan, offline: true, vars: vars})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "round trip", r.Out,
		`enabled: True address: http://vault.service.consul:8200 ttl: 1h role: nomad-cluster ns: None`,
		"token: (sensitive) secret same: True", "extra: True")
	mustNotContain(t, "output", r.All(), newToken)
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A token known only after apply (a plan where vault.token mints it) shows as such.
func TestAgentConfigUnknownToken(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	if err := os.WriteFile(cfg, []byte("vault {\n  token = \""+oldToken+"\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := runtimetest.Script(t, map[string]string{"main.star": `
minted = nomad.status("anything")  # offline: unknown, as a token minted in this run would be
nomad.agent_config("` + cfg + `", vault = {"token": minted})
`})
	r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	mustContain(t, "plan", r.Plan, "~ vault.token: (sensitive) -> (known after apply)")
	mustNotContain(t, "plan", r.All(), oldToken)
}
