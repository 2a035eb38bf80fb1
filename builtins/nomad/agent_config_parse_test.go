package nomad

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// leakyLine is a garbage line that is a token: the parse error must not quote it.
const leakyLine = "hvs.GARBAGE-token-line-7777"

// brokenAgentConfigs are files Nomad cannot load (issue 14), each with where HCL 1
// reports the error.
var brokenAgentConfigs = []struct {
	name, src, at, want string
}{
	{"attribute without value", agentHCL + "client { enabled = }\n", ":27:20: ", "unexpected RBRACE"},
	{"unclosed server block", strings.Replace(agentHCL, "  bootstrap_expect = 1\n}\n", "  bootstrap_expect = 1\n", 1), ":26:2: ", "object expected closing RBRACE got: EOF (the block that starts at line 5 is not closed)"},
	// HCL 1 reads a stray line as the first keys of the block after it: the file parses,
	// but Nomad refuses the unexpected key, and the block is not where Nomad looks.
	{"garbage line before a block", strings.Replace(agentHCL, "# Vault integration\n", "garbage\n", 1), ":17:1: ", `unexpected key "garbage"`},
	{"garbage words before a block", strings.Replace(agentHCL, "client {", "this is garbage\nclient {", 1), ":10:1: ", `unexpected key "this"`},
	{"garbage line at the end", agentHCL + "this is garbage\n", ":28:1: ", "key (text) expected start of object ('{') or assignment ('=')"},
	{"bare token line", agentHCL + leakyLine + "\n", ":28:1: ", "key (text) expected start of object"},
	{"bare token line before a block", strings.Replace(agentHCL, "# Vault integration\n", leakyLine+"\n", 1), ":17:1: ", "an unexpected key"},
}

// A file Nomad could not load is refused when it is first read, by agent_config_read
// and agent_config, in plan and apply, naming file:line:col; nothing is written and
// on_change does not run.
func TestAgentConfigRefusesFileNomadCannotLoad(t *testing.T) {
	for _, tc := range brokenAgentConfigs {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "nomad.hcl")
			if err := os.WriteFile(cfg, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			marker := filepath.Join(dir, "restarts")
			scripts := map[string]string{
				"agent_config_read": runtimetest.Script(t, map[string]string{"main.star": `nomad.agent_config_read("` + cfg + `")`}),
				"agent_config":      agentScript(t, cfg, `, on_change = ["/bin/sh", "-c", "echo restarted >> `+marker+`"]`),
			}
			for name, script := range scripts {
				for _, mode := range []runtime.Mode{runtime.Plan, runtime.Apply} {
					var vars []string
					if name == "agent_config" {
						vars = []string{"tok=" + newToken}
					}
					r := runScript(t, script, runConfig{mode: mode, offline: mode == runtime.Plan, vars: vars})
					if r.Err == nil {
						t.Fatalf("%s %s: no error", name, mode)
					}
					mustContain(t, name+" error", r.ErrMsg, cfg+tc.at, "Nomad could not load this agent config", tc.want)
					mustNotContain(t, name+" output", r.All(), leakyLine, newToken)
					if got := mustRead(t, cfg); got != tc.src {
						t.Fatalf("%s %s changed the file:\n%s", name, mode, got)
					}
					if _, err := os.Stat(marker); err == nil {
						t.Fatalf("%s %s ran on_change", name, mode)
					}
				}
			}
		})
	}
}

// The HCL 1-only syntax Nomad accepts (a quoted attribute name, a repeated key) is not
// refused.
func TestAgentConfigAcceptsWhatNomadLoads(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	src := agentHCL + "data_dir = \"/srv/nomad\"\n"
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runScript(t, agentScript(t, cfg, ""), runConfig{mode: runtime.Apply, vars: []string{"tok=" + newToken}})
	if r.Err != nil {
		t.Fatal(r.ErrMsg)
	}
	if _, err := parseAgentHCL1([]byte(mustRead(t, cfg)), cfg); err != nil {
		t.Fatal(err)
	}
}

// verifyHCL1 is the last gate before a rewritten file replaces the old one: whatever
// HCL 1 cannot load, or reads differently from what was set, is refused.
func TestVerifyRewriteWithHCL1(t *testing.T) {
	str := func(s string) *cty.Value { v := cty.StringVal(s); return &v }
	good := "server {\n  enabled = true\n}\n\nvault {\n  enabled = true\n  address = \"http://v:8200\"\n  allowed = [\"a\", \"b\"]\n  ttl = 3\n}\n"
	for _, tc := range []struct {
		name, data string
		set        map[string]*cty.Value
		want       string
	}{
		{"good", good, map[string]*cty.Value{"address": str("http://v:8200"), "namespace": nil}, ""},
		{"list and number", good, map[string]*cty.Value{"allowed": func() *cty.Value {
			v := cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")})
			return &v
		}(), "ttl": func() *cty.Value { v := cty.NumberIntVal(3); return &v }()}, ""},
		{"does not parse", good + "client { enabled = }\n", nil, "the rewritten file would not load: nomad.hcl:11:20: "},
		{"escaped template sequence", "vault {\n  address = \"http://v/$${x}\"\n}\n", map[string]*cty.Value{"address": str("http://v/${x}")}, "vault.address would not read back as written"},
		{"value differs", good, map[string]*cty.Value{"address": str("http://other:8200")}, "vault.address would not read back as written"},
		{"not removed", good, map[string]*cty.Value{"address": nil}, "HCL 1 still reads vault.address"},
		{"two vault blocks", good + "vault {\n}\n", nil, "has 2 top-level vault blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyHCL1([]byte(tc.data), "nomad.hcl", tc.set)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// A value HCL 2's writer cannot write so that HCL 1 reads it back ("${", "%{") is an
// error in the plan, before anything is written.
func TestAgentConfigRefusesTemplateSequences(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nomad.hcl")
	for _, v := range []string{"http://v/${x}", "http://v/%{x}"} {
		script := runtimetest.Script(t, map[string]string{"main.star": `nomad.agent_config("` + cfg + `", vault = {"address": "` + v + `"})`})
		r := runScript(t, script, runConfig{mode: runtime.Plan, offline: true})
		if r.Err == nil {
			t.Fatalf("%s: no error", v)
		}
		mustContain(t, "error", r.ErrMsg, "vault.address", "HCL 1")
		if _, err := os.Stat(cfg); err == nil {
			t.Fatal("the file was written")
		}
	}
}

// The last gate itself: a rewritten file HCL 1 cannot load does not replace the old one
// (same bytes, same inode, no temp file left); a good one does, atomically.
func TestReplaceVerifiedKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nomad.hcl")
	if err := os.WriteFile(cfg, []byte(agentHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	ac, err := readAgentConfig(OSFiles{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := inode(t, cfg)
	addr := cty.StringVal("http://v:8200")
	set := map[string]*cty.Value{"address": &addr}
	broken := agentHCL + "client { enabled = }\n"
	if err := ac.replaceVerified([]byte(broken), set, 0o600); err == nil || !strings.Contains(err.Error(), "would not load") {
		t.Fatalf("error %v", err)
	}
	if got := mustRead(t, cfg); got != agentHCL || inode(t, cfg) != before || fileMode(t, cfg) != 0o644 {
		t.Fatalf("the old file was touched:\n%s", got)
	}
	good := strings.Replace(agentHCL, `address = "http://127.0.0.1:8200"`, `address = "http://v:8200"`, 1)
	if err := ac.replaceVerified([]byte(good), set, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, cfg); got != good || inode(t, cfg) == before || fileMode(t, cfg) != 0o600 {
		t.Fatalf("not replaced atomically:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}
