package runtime

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"
)

// Saved plans (--plan --out FILE, then --apply-plan FILE), after terraform's `plan -out`
// and `apply PLANFILE`. Unlike terraform's, the file holds no secret and no value to
// apply: an apply of it re-runs the script and refuses, before the first write, unless a
// fresh live plan sees exactly what the saved one saw (same changes, same fingerprints),
// from the same script and the same vars.

// SavedPlanVersion is the format of the file; a file of another version is refused.
const SavedPlanVersion = 1

// SavedPlan is the content of a plan file.
type SavedPlan struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Script  string    `json:"script"`        // as given on the command line
	Digest  string    `json:"script_sha256"` // of the main script's bytes
	// Loaded is the SHA-256 of every file the script loaded (its lib files, stdlib).
	Loaded map[string]string `json:"loaded_sha256"`
	// Salt keys the var digests so that a digest of a short secret cannot be looked up
	// in a table made in advance.
	Salt    string            `json:"var_salt"`
	Vars    map[string]string `json:"var_sha256"` // name -> salted digest of its value
	Records []SavedRecord     `json:"records"`
	// Integrity is a SHA-256 of the fields above (the file with this field empty): it
	// catches a truncated or hand-edited file. It is not a signature.
	Integrity string `json:"integrity"`

	path string // where it was read from, for messages
}

// SavedRecord is one record of a saved plan: what changes, and what the read behind it saw.
type SavedRecord struct {
	Address     string      `json:"address"`
	Action      Action      `json:"action"`
	Summary     string      `json:"summary,omitempty"`
	Diff        []DiffLine  `json:"diff,omitempty"`
	Fingerprint Fingerprint `json:"fingerprint,omitempty"`
}

// NewVarSalt returns a fresh salt for a plan's var digests.
func NewVarSalt() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return hex.EncodeToString(b)
}

// varDigest is the salted digest of one var's value (before it is made a Secret).
func varDigest(salt, name, repr string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", salt, name, repr)
	return hex.EncodeToString(h.Sum(nil))
}

// FileDigest is the SHA-256 of a file's bytes.
func FileDigest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// NewSavedPlan makes the plan file's content from a live plan's result. Summaries and
// diffs are scrubbed by red, as the printed plan is.
func NewSavedPlan(res *Result, script, salt string, red *Redactor, now time.Time) (*SavedPlan, error) {
	if res.Mode != Plan || res.Offline {
		return nil, errors.New("only a live plan can be saved (not --offline): an apply of it compares what the servers hold")
	}
	digest, err := FileDigest(script)
	if err != nil {
		return nil, fmt.Errorf("script %s: %w", script, err)
	}
	sp := &SavedPlan{Version: SavedPlanVersion, Created: now.UTC().Truncate(time.Second), Script: script,
		Digest: digest, Loaded: res.Loaded, Salt: salt, Vars: res.VarDigests, Records: savedRecords(res, red)}
	if sp.Loaded == nil {
		sp.Loaded = map[string]string{}
	}
	if sp.Vars == nil {
		sp.Vars = map[string]string{}
	}
	return sp, nil
}

func savedRecords(res *Result, red *Redactor) []SavedRecord {
	out := make([]SavedRecord, 0, len(res.Records))
	for _, r := range res.Records {
		sr := SavedRecord{Address: red.Redact(r.Address), Action: r.Action, Summary: red.Redact(r.Summary), Fingerprint: r.Fingerprint}
		for _, d := range r.Diff {
			sr.Diff = append(sr.Diff, DiffLine{Op: d.Op, Key: red.Redact(d.Key), Before: red.Redact(d.Before), After: red.Redact(d.After)})
		}
		out = append(out, sr)
	}
	return out
}

func (sp *SavedPlan) integrity() string {
	c := *sp
	c.Integrity = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Write writes the plan file atomically (a temporary file in the same directory, then a
// rename), mode 0600.
func (sp *SavedPlan) Write(path string) error {
	sp.Integrity = sp.integrity()
	b, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(path, append(b, '\n'), 0o600, nil); err != nil {
		return fmt.Errorf("plan file %s: %w", path, err)
	}
	return nil
}

// ReadSavedPlan reads and checks a plan file: mode 0600, complete, untouched, and of this
// version. It does not check the script: see CheckScript.
func ReadSavedPlan(path string) (*SavedPlan, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("plan file %s: %w", path, unwrapPathError(err))
	}
	if st.IsDir() {
		return nil, fmt.Errorf("plan file %s: is a directory", path)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		return nil, fmt.Errorf("plan file %s: mode %04o, want 0600 (nvrun --plan --out writes it so; a plan file readable by others may have been changed by them)", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan file %s: %w", path, unwrapPathError(err))
	}
	var sp SavedPlan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return nil, fmt.Errorf("plan file %s: truncated or not a plan file made by nvrun --plan --out: %w", path, err)
	}
	if sp.Version != SavedPlanVersion {
		return nil, fmt.Errorf("plan file %s: format version %d, this nvrun reads version %d", path, sp.Version, SavedPlanVersion)
	}
	if sp.Integrity == "" || sp.Integrity != sp.integrity() {
		return nil, fmt.Errorf("plan file %s: integrity check failed: the file was changed after nvrun wrote it (or truncated); make a new plan", path)
	}
	if sp.Script == "" {
		return nil, fmt.Errorf("plan file %s: names no script", path)
	}
	sp.path = path
	return &sp, nil
}

// CheckScript refuses a plan whose script has changed since (or is another file now).
func (sp *SavedPlan) CheckScript() error {
	d, err := FileDigest(sp.Script)
	if err != nil {
		return fmt.Errorf("plan file %s: script %s: %w", sp.path, sp.Script, unwrapPathError(err))
	}
	if d != sp.Digest {
		return &StaleError{Plan: sp, What: fmt.Sprintf("script %s changed since the plan (sha256 %s…, now %s…)", sp.Script, sp.Digest[:12], d[:12])}
	}
	return nil
}

// StaleError is an --apply-plan refused because something moved since the plan.
type StaleError struct {
	Plan *SavedPlan
	What string
	Now  time.Time // zero: time.Now()
}

func (e *StaleError) Error() string {
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	return fmt.Sprintf("plan is stale: %s (%s, %s)", e.What, e.Plan.path, age(now.Sub(e.Plan.Created)))
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", max(int(d.Seconds()), 0))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h ago", int(d.Hours()))
}

// checkFresh compares a fresh live plan with the saved one: the same vars, then the same
// records, in order, with the same fingerprints.
func (sp *SavedPlan) checkFresh(res *Result, red *Redactor) error {
	if err := sp.checkVars(res); err != nil {
		return err
	}
	stale := func(format string, args ...any) error {
		return &StaleError{Plan: sp, What: fmt.Sprintf(format, args...)}
	}
	for _, name := range slices.Sorted(maps.Keys(sp.Loaded)) {
		if now, ok := res.Loaded[name]; !ok || now != sp.Loaded[name] {
			return stale("loaded file %s changed since the plan", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(res.Loaded)) {
		if _, ok := sp.Loaded[name]; !ok {
			return stale("the script loads %s, which it did not at the plan", name)
		}
	}
	fresh := savedRecords(res, red)
	for i := range max(len(fresh), len(sp.Records)) {
		switch {
		case i >= len(fresh):
			return stale("%s is no longer planned", sp.Records[i].Address)
		case i >= len(sp.Records):
			return stale("%s is planned now but was not in the plan", fresh[i].Address)
		}
		was, now := sp.Records[i], fresh[i]
		if was.Address != now.Address {
			return stale("%s is planned now where the plan had %s", now.Address, was.Address)
		}
		if was.Action == Read && now.Action == Read {
			// A read the script consumes (an SRV answer, an HTTP check, credentials) is
			// read again by the apply, as terraform re-reads data sources: it is no
			// resource the plan converges, and its answer may differ by design.
			continue
		}
		if was.Fingerprint != now.Fingerprint || was.Action != now.Action {
			return stale("%s changed since the plan", now.Address)
		}
		if !now.Action.IsChange() {
			// Unchanged: the fingerprint says it all; the summary may tick (a TTL left).
			continue
		}
		a, _ := json.Marshal(was)
		b, _ := json.Marshal(now)
		if !bytes.Equal(a, b) {
			return stale("%s changed since the plan (now: %s %s)", now.Address, now.Action, now.Summary)
		}
	}
	return nil
}

// checkVars refuses a plan whose vars were given other values (sensitive ones included:
// they are compared by salted digest).
func (sp *SavedPlan) checkVars(res *Result) error {
	stale := func(format string, args ...any) error {
		return &StaleError{Plan: sp, What: fmt.Sprintf(format, args...)}
	}
	for _, name := range slices.Sorted(maps.Keys(sp.Vars)) {
		d := sp.Vars[name]
		now, ok := res.VarDigests[name]
		switch {
		case !ok:
			return stale("var %s is no longer declared", name)
		case now != d:
			if slices.ContainsFunc(res.Vars, func(v VarInfo) bool { return v.Name == name && v.Sensitive }) {
				return stale("sensitive var %s changed since the plan, or was not given again", name)
			}
			return stale("var %s changed since the plan", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(res.VarDigests)) {
		if _, ok := sp.Vars[name]; !ok {
			return stale("var %s is new since the plan", name)
		}
	}
	return nil
}

func sourceDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// guardSavedPlan is the write guard of an --apply-plan: the apply's own read of a
// resource the plan saw must still see what the plan saw, so the write that follows acts
// on the plan's state (Nomad's EnforceIndex and Consul's check-and-set then use the
// plan's index; Vault has no conditional write, so this re-read is its guard). Only the
// first read of an address counts (a later one sees this apply's own write), and only a
// resource that existed at the plan: one the plan creates may look different once the
// apply's earlier steps (a mount, an auth method) exist.
func (r *Run) guardSavedPlan(addr string, live Live) error {
	sp := r.opts.SavedPlan
	if sp == nil || r.mode != Apply || r.destroy || !live.Known() {
		return nil
	}
	if r.guarded == nil {
		r.guarded = map[string]bool{}
	}
	if r.guarded[addr] {
		return nil
	}
	r.guarded[addr] = true
	for _, was := range sp.Records {
		if was.Address != addr || was.Action == Read {
			continue
		}
		if was.Fingerprint == "" || was.Action == Create || was.Fingerprint == live.Fingerprint {
			return nil
		}
		return &StaleError{Plan: sp, What: addr + " changed since the plan"}
	}
	return nil
}
