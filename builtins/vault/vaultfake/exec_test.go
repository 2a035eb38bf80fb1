package vaultfake

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// execResult is one nvrun run of a script against a Vault (fake or real).
type execResult struct {
	res  *runtime.Result
	err  error
	text string // the plan text, or the apply summary
	json string // the -json view of the same
	out  string
	reqs []string // "GET /v1/sys/seal-status", as the module sent them
}

// recordingTransport records the requests the module sends (some concurrently: the
// stray-token sweep looks accessors up in parallel).
type recordingTransport struct {
	base http.RoundTripper
	mu   *sync.Mutex
	reqs *[]string
}

func (r recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m := req.Method
	if req.URL.Query().Get("list") == "true" {
		m = "LIST"
	}
	r.mu.Lock()
	*r.reqs = append(*r.reqs, m+" "+req.URL.Path)
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// execScript runs script (a file) in mode against Vault at addr, through the fake
// if f is not nil. keysFile and token are the run's, so that two runs print the same.
func execScript(t *testing.T, script string, mode runtime.Mode, f *Fake, addr, token, keysFile string, vars []string, extra ...runtime.Module) execResult {
	t.Helper()
	var reqs []string
	cfg := vault.Options{KeysFile: keysFile, Cleanups: &vault.Cleanups{}, Stderr: &bytes.Buffer{},
		WrapTransport: func(base http.RoundTripper) http.RoundTripper {
			if f != nil {
				base = fakenet.Transport(f)
			}
			return recordingTransport{base, &sync.Mutex{}, &reqs}
		}}
	env := []string{"VAULT_ADDR=" + addr}
	if token != "" {
		env = append(env, "VAULT_TOKEN="+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, text, js bytes.Buffer
	red := runtime.NewRedactor()
	res, err := runtime.Exec(ctx, runtime.Options{Script: script, Mode: mode, Modules: append([]runtime.Module{vault.Module(cfg)}, extra...),
		Environ: env, Vars: vars, Out: &out}, red)
	if cerr := cfg.Cleanups.Run(ctx); cerr != nil && err == nil {
		err = cerr
	}
	r := execResult{res: res, err: err, out: out.String(), reqs: reqs}
	if res != nil {
		if mode == runtime.Plan {
			_ = res.WritePlan(red.Writer(&text), runtime.RenderOptions{})
		} else {
			_ = res.WriteApplySummary(red.Writer(&text), runtime.RenderOptions{})
		}
		_ = res.WriteJSON(red.Writer(&js), "")
	}
	r.text, r.json = text.String(), js.String()
	return r
}

// TestGuideAgainstFake runs the guide's Vault part against an uninitialised fake:
// plan, apply, and a second plan that changes nothing but the token (the script is
// not told which one is in use, so it mints one and revokes the first as a stray).
func TestGuideAgainstFake(t *testing.T) {
	f := newUninitialised()
	keys := filepath.Join(t.TempDir(), "keys.json")
	script := filepath.Join("..", "testdata", "guide_vault.star")
	for i, mode := range []runtime.Mode{runtime.Plan, runtime.Apply, runtime.Plan} {
		r := execScript(t, script, mode, f, "http://vault.test:8200", "", keys, nil)
		if r.err != nil {
			t.Fatalf("%s %d: %v\n%s", mode, i, r.err, r.text)
		}
		if i == 2 {
			c := map[runtime.Action]int{}
			for _, rec := range r.res.Records {
				c[rec.Action]++
			}
			if c[runtime.Unchanged] != 8 || c[runtime.Update] != 0 {
				t.Errorf("second plan: %v, want 8 unchanged and no update\n%s", c, r.text)
			}
		}
	}
	if f.Policy("access-tables") == "" {
		t.Error("the fake holds no access-tables policy after apply")
	}
}
