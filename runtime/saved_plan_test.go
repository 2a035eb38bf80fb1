package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkFresh names the first record or var that moved; an identical plan passes.
func TestSavedPlanCheckFresh(t *testing.T) {
	red := NewRedactor()
	base := func() *Result {
		return &Result{Mode: Plan, VarDigests: map[string]string{"v": "d1"}, Records: []*Record{
			{Address: `vault policy "nomad-server"`, Action: Unchanged, Fingerprint: "sha256:aa"},
			{Address: `nomad job "web"`, Action: Update, Summary: "image", Fingerprint: "index:7"},
			{Address: `consul srv "web"`, Action: Read, Summary: "1 answer", Fingerprint: "sha256:cc"},
		}}
	}
	script := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(script, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		change func(r *Result)
		want   string
	}{
		{"identical", func(*Result) {}, ""},
		{"fingerprint", func(r *Result) { r.Records[0].Fingerprint = "sha256:bb" }, `vault policy "nomad-server" changed since the plan`},
		{"action", func(r *Result) { r.Records[1].Action = Create }, `nomad job "web" changed since the plan`},
		{"summary of a change", func(r *Result) { r.Records[1].Summary = "image, env" }, `nomad job "web" changed since the plan (now: update image, env)`},
		{"summary of an unchanged resource ticks", func(r *Result) { r.Records[0].Summary = "71h59m left" }, ""},
		{"a read's answer", func(r *Result) { r.Records[2].Fingerprint = "sha256:other" }, ""},
		{"one more", func(r *Result) { r.Records = append(r.Records, &Record{Address: "x"}) }, "x is planned now but was not in the plan"},
		{"one fewer", func(r *Result) { r.Records = r.Records[:2] }, `consul srv "web" is no longer planned`},
		{"var", func(r *Result) { r.VarDigests["v"] = "d2" }, "var v changed since the plan"},
		{"new var", func(r *Result) { r.VarDigests["w"] = "d3" }, "var w is new since the plan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp, err := NewSavedPlan(base(), script, "salt", red, created)
			if err != nil {
				t.Fatal(err)
			}
			sp.path = "guide.plan"
			now := base()
			c.change(now)
			err = sp.checkFresh(now, red)
			if c.want == "" {
				if err != nil {
					t.Fatalf("identical plan refused: %v", err)
				}
				return
			}
			var stale *StaleError
			if !errors.As(err, &stale) {
				t.Fatalf("got %v, want a StaleError", err)
			}
			stale.Now = created.Add(4*time.Minute + 10*time.Second)
			want := "plan is stale: " + c.want + " (guide.plan, 4 min ago)"
			if !strings.HasPrefix(stale.Error(), "plan is stale: ") || stale.Error() != want {
				t.Fatalf("got  %q\nwant %q", stale.Error(), want)
			}
		})
	}
}

// A written plan reads back; an offline plan cannot be saved.
func TestSavedPlanRoundTrip(t *testing.T) {
	red := NewRedactor()
	script := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(script, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := &Result{Mode: Plan, Records: []*Record{{Address: "a", Action: Create, Fingerprint: Absent}}}
	sp, err := NewSavedPlan(res, script, NewVarSalt(), red, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.plan")
	if err := sp.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSavedPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.CheckScript(); err != nil {
		t.Fatal(err)
	}
	if err := back.checkFresh(res, red); err != nil {
		t.Fatalf("the plan it was made from is stale: %v", err)
	}
	if _, err := NewSavedPlan(&Result{Mode: Plan, Offline: true}, script, "s", red, time.Now()); err == nil {
		t.Fatal("an offline plan was saved")
	}
}

// The write guard: the apply's first read of a resource the plan saw must see the plan's
// fingerprint; a created resource, a later read of the same address and a destroy are
// not checked.
func TestSavedPlanWriteGuard(t *testing.T) {
	sp := &SavedPlan{path: "plan.json", Created: time.Now(), Records: []SavedRecord{
		{Address: `nomad job "web"`, Action: Update, Fingerprint: "index:7"},
		{Address: `vault policy "p"`, Action: Unchanged, Fingerprint: "sha256:aa"},
		{Address: `vault path "auth/jwt/config"`, Action: Create, Fingerprint: Absent},
		{Address: `consul srv "web"`, Action: Read, Fingerprint: "sha256:cc"},
	}}
	known := func(fp Fingerprint) Live { return Live{Value: "x", Fingerprint: fp} }
	tests := []struct {
		name    string
		destroy bool
		reads   []string      // addresses read in order
		fps     []Fingerprint // what each read sees
		stale   string        // the address refused, "" for none
	}{
		{name: "as planned", reads: []string{`nomad job "web"`, `vault policy "p"`}, fps: []Fingerprint{"index:7", "sha256:aa"}},
		{name: "job moved", reads: []string{`nomad job "web"`}, fps: []Fingerprint{"index:9"}, stale: `nomad job "web"`},
		{name: "policy moved", reads: []string{`vault policy "p"`}, fps: []Fingerprint{"sha256:bb"}, stale: `vault policy "p"`},
		{name: "created looks different", reads: []string{`vault path "auth/jwt/config"`}, fps: []Fingerprint{"sha256:dd"}},
		{name: "second read sees the apply's write", reads: []string{`vault policy "p"`, `vault policy "p"`}, fps: []Fingerprint{"sha256:aa", "sha256:ee"}},
		{name: "not in the plan", reads: []string{`vault policy "new"`}, fps: []Fingerprint{"sha256:ff"}},
		{name: "destroy", destroy: true, reads: []string{`nomad job "web"`}, fps: []Fingerprint{"index:9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Run{mode: Apply, destroy: tc.destroy, opts: Options{SavedPlan: sp}}
			var refused string
			for i, addr := range tc.reads {
				if err := r.guardSavedPlan(addr, known(tc.fps[i])); err != nil {
					var se *StaleError
					if !errors.As(err, &se) || !strings.Contains(err.Error(), "plan is stale: "+addr+" changed since the plan (plan.json, ") {
						t.Fatalf("read %d: %v", i, err)
					}
					refused = addr
					break
				}
			}
			if refused != tc.stale {
				t.Errorf("refused %q, want %q", refused, tc.stale)
			}
		})
	}
	// A plan run has no guard.
	if err := (&Run{mode: Plan, opts: Options{SavedPlan: sp}}).guardSavedPlan(`nomad job "web"`, known("index:9")); err != nil {
		t.Errorf("plan: %v", err)
	}
}
