package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// If the keys cannot be written after init, they go to stderr rather than be lost,
// and the builtin fails.
func TestSaveKeysDumpsToStderr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	f, _, err := reserveKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // the write will fail
	var stderr bytes.Buffer
	resp := &api.InitResponse{Keys: []string{"6b6579"}, KeysB64: []string{"a2V5LWNhbmFyeQ=="}, RootToken: "hvs.root-canary"}
	err = saveKeys(f, resp, 1, 1, "http://127.0.0.1:8200", &stderr)
	if err == nil || !strings.Contains(err.Error(), "printed to stderr") {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{"WARNING", "a2V5LWNhbmFyeQ==", "hvs.root-canary", "NEVER"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(err.Error(), "hvs.root-canary") || strings.Contains(err.Error(), "a2V5LWNhbmFyeQ==") {
		t.Error("the error carries a key")
	}
}

func TestReserveKeysFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	f, reused, err := reserveKeysFile(path)
	if err != nil || reused {
		t.Fatal(err, reused)
	}
	resp := &api.InitResponse{Keys: []string{"6b"}, KeysB64: []string{"aw=="}, RootToken: "hvs.x"}
	if err := saveKeys(f, resp, 1, 1, "http://a", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	doc, err := loadKeys(path, "http://a")
	if err != nil || doc.RootToken != "hvs.x" || doc.keys()[0] != "aw==" {
		t.Fatalf("load: %+v %v", doc, err)
	}
	if _, _, err := reserveKeysFile(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("reserving an existing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("{not json: hvs.secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeys(path, ""); err == nil || strings.Contains(err.Error(), "hvs.secret") {
		t.Errorf("bad JSON: %v", err)
	}
}

func TestInitArguments(t *testing.T) {
	for src, want := range map[string]string{
		`vault.init(key_shares = 3, key_threshold = 4)`:                   "key_threshold must be between 2 and key_shares",
		`vault.init(key_shares = 3, key_threshold = 1)`:                   "key_threshold must be between 2 and key_shares",
		`vault.init(key_shares = 2, key_threshold = 2, pgp_keys = ["a"])`: "one per key share",
		`vault.unseal("just-a-string")`:                                   "want a list",
	} {
		r := run(t, src, runtime.Plan, opts{offline: true})
		if r.err == nil || !strings.Contains(r.errMsg, want) {
			t.Errorf("%s: %v, want %q", src, r.errMsg, want)
		}
	}
}

// Offline, every builtin plans without a server and returns unknowns; namespaces show
// in addresses.
func TestOfflineEveryBuiltin(t *testing.T) {
	r := mustRun(t, `
s = vault.status()
i = vault.init(key_shares = 1, key_threshold = 1)
vault.unseal(i.keys)
vault.login(i.root_token)
vault.namespace("team-a")
vault.policy("p", {"x": ["read"]})
vault.policy("q", 'path "y" { capabilities = ["list"] }', namespace = "team-b")
vault.token_role("r", allowed_policies = "p", token_period = "1h")
t = vault.token(["p"], period = "1h", reuse = None)
vault.mount("m", "kv-v2")
vault.auth("a", "approle")
vault.write("m/data/x", data = {"k": "v"})
d = vault.read("m/data/x")
vault.delete("m/data/y")
l = vault.list("m/metadata")
print(s.sealed, t.token, d, l)
`, runtime.Plan, opts{offline: true, addr: "http://127.0.0.1:1"})
	if n := len(r.rec.all()); n != 0 {
		t.Errorf("offline plan sent %d requests", n)
	}
	for _, a := range []string{`vault policy "p" (namespace "team-a")`, `vault policy "q" (namespace "team-b")`, `vault mount "m" (namespace "team-a")`} {
		r.record(t, a)
	}
	if !strings.Contains(r.out, "(known after apply: vault.status") || !strings.Contains(r.out, "(known after apply: vault.token") {
		t.Errorf("print: %s", r.out)
	}
}
