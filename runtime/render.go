package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Summary counts the records by outcome.
type Summary struct {
	Create          int `json:"create"`
	Update          int `json:"update"`
	Delete          int `json:"delete"`
	Call            int `json:"call"`
	Read            int `json:"read"`
	Unchanged       int `json:"unchanged"`
	Failed          int `json:"failed"`
	KnownAfterApply int `json:"known_after_apply"`
}

func (res *Result) Summary() Summary {
	var s Summary
	for _, r := range res.Records {
		if r.KnownAfterApply {
			s.KnownAfterApply++
		}
		if r.Status == "failed" {
			s.Failed++
		}
		switch r.Action {
		case Create:
			s.Create++
		case Update:
			s.Update++
		case Delete:
			s.Delete++
		case Call:
			s.Call++
		case Read:
			s.Read++
		case Unchanged:
			s.Unchanged++
		}
	}
	return s
}

// RenderOptions control text rendering.
type RenderOptions struct {
	Color bool
}

// WritePlan renders a plan as text, grouped by step.
func (res *Result) WritePlan(w io.Writer, o RenderOptions) error {
	p := &progress{color: o.Color}
	var b strings.Builder
	if res.Destroy {
		res.writeDestroyPlan(&b, p)
		_, err := io.WriteString(w, b.String())
		return err
	}
	if res.Offline {
		b.WriteString(p.paint(dim, "Offline plan: no server was read, so live state is unknown and every write is shown as a create.") + "\n\n")
	}
	res.writeRecords(&b, p)
	s := res.Summary()
	fmt.Fprintf(&b, "\nPlan: %d to create, %d to update, %d to delete, %d to call, %d unchanged", s.Create, s.Update, s.Delete, s.Call, s.Unchanged)
	if s.Read > 0 {
		fmt.Fprintf(&b, ", %d to read", s.Read)
	}
	fmt.Fprintf(&b, ", %d known only after apply.\n", s.KnownAfterApply)
	res.writeWarnings(&b, p)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteApplySummary renders the closing lines of an apply (the progress was streamed).
func (res *Result) WriteApplySummary(w io.Writer, o RenderOptions) error {
	p := &progress{color: o.Color}
	var b strings.Builder
	s := res.Summary()
	if res.Destroy {
		fmt.Fprintf(&b, "\nDestroy complete: %d deleted.\n", s.Delete)
		res.writeWarnings(&b, p)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "\nApply complete: %d created, %d updated, %d deleted, %d called, %d unchanged, %d read.\n",
		s.Create, s.Update, s.Delete, s.Call, s.Unchanged, s.Read)
	res.writeWarnings(&b, p)
	_, err := io.WriteString(w, b.String())
	return err
}

func (res *Result) writeRecords(b *strings.Builder, p *progress) {
	byStep := map[int][]*Record{}
	for _, r := range res.Records {
		byStep[r.Step] = append(byStep[r.Step], r)
	}
	if recs := byStep[0]; len(recs) > 0 {
		b.WriteString(p.paint(bold, "Before the first step") + "\n")
		writeRecordLines(b, p, recs)
	}
	for _, s := range res.Steps {
		fmt.Fprintf(b, "%s\n", p.paint(bold, fmt.Sprintf("Step %d  %s", s.Number, s.Title)))
		recs := byStep[s.Number]
		if len(recs) == 0 {
			b.WriteString(p.paint(dim, "  (nothing to do)") + "\n")
		}
		writeRecordLines(b, p, recs)
	}
}

func writeRecordLines(b *strings.Builder, p *progress, recs []*Record) {
	for _, r := range recs {
		line := fmt.Sprintf("  %-2s %s", r.Action.Symbol(), r.Address)
		if r.Summary != "" {
			pad := 52 - len(line)
			if pad < 2 {
				pad = 2
			}
			line += strings.Repeat(" ", pad) + r.Summary
		}
		if r.Status == "failed" {
			line += "  FAILED: " + r.Error
		}
		b.WriteString(p.paint(actionColor(r), line) + "\n")
		for _, d := range r.Diff {
			switch d.Op {
			case "+":
				fmt.Fprintf(b, "      + %s: %s\n", d.Key, d.After)
			case "-":
				fmt.Fprintf(b, "      - %s: %s\n", d.Key, d.Before)
			default:
				fmt.Fprintf(b, "      ~ %s: %s -> %s\n", d.Key, d.Before, d.After)
			}
		}
		for _, n := range r.Notes {
			fmt.Fprintf(b, "      # %s\n", n)
		}
	}
}

func (res *Result) writeWarnings(b *strings.Builder, p *progress) {
	for _, w := range res.Warnings {
		fmt.Fprintf(b, "%s %s\n", p.paint(yellow, "Warning:"), w)
	}
	if res.Incomplete {
		fmt.Fprintf(b, "%s\n", p.paint(yellow, "This plan is incomplete: the script branched on values known only after apply (see the warnings above)."))
	}
}

// jsonRecord is the --json document. Its shape is versioned by format_version.
type jsonRecord struct {
	FormatVersion string     `json:"format_version"`
	Mode          string     `json:"mode"`
	Offline       bool       `json:"offline"`
	Script        string     `json:"script"`
	Steps         []jsonStep `json:"steps"`
	Summary       Summary    `json:"summary"`
	Changes       bool       `json:"changes"`
	Incomplete    bool       `json:"incomplete"`
	Warnings      []string   `json:"warnings"`
	Error         string     `json:"error,omitempty"`
	Destroy       bool       `json:"destroy,omitempty"`
}

type jsonStep struct {
	Number  int       `json:"number"`
	Title   string    `json:"title"`
	Records []*Record `json:"records"`
}

// WriteJSON renders the record as JSON. The caller passes a redacting writer; errMsg is
// the run's error, if any (already redacted).
func (res *Result) WriteJSON(w io.Writer, errMsg string) error {
	doc := jsonRecord{
		FormatVersion: "1",
		Mode:          res.Mode.String(),
		Offline:       res.Offline,
		Script:        res.Script,
		Summary:       res.Summary(),
		Changes:       res.Changes(),
		Incomplete:    res.Incomplete,
		Warnings:      append([]string{}, res.Warnings...),
		Error:         errMsg,
		Destroy:       res.Destroy,
	}
	byStep := map[int][]*Record{}
	for _, r := range res.Records {
		byStep[r.Step] = append(byStep[r.Step], r)
	}
	if recs := byStep[0]; len(recs) > 0 {
		doc.Steps = append(doc.Steps, jsonStep{Number: 0, Title: "", Records: recs})
	}
	for _, s := range res.Steps {
		recs := byStep[s.Number]
		if recs == nil {
			recs = []*Record{}
		}
		doc.Steps = append(doc.Steps, jsonStep{Number: s.Number, Title: s.Title, Records: recs})
	}
	if doc.Steps == nil {
		doc.Steps = []jsonStep{}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// writeDestroyPlan lists a destroy's deletes in the order apply makes them: the script's
// last first. Resources kept with keep=True are listed after them.
func (res *Result) writeDestroyPlan(b *strings.Builder, p *progress) {
	if res.Offline {
		b.WriteString(p.paint(dim, "Offline plan: no server was read, so every resource the script declares is shown as a delete if present.") + "\n\n")
	}
	title := map[int]string{0: "before the first step"}
	for _, s := range res.Steps {
		title[s.Number] = fmt.Sprintf("step %d  %s", s.Number, s.Title)
	}
	var first, deletes, kept []*Record
	for i := len(res.Records) - 1; i >= 0; i-- {
		switch r := res.Records[i]; {
		case r.Action.IsChange() && r.Action != Delete:
			first = append([]*Record{r}, first...) // vault.init, vault.unseal: in script order
		case r.Action == Delete:
			deletes = append(deletes, r)
		case r.Action == Unchanged && r.Summary == keptSummary:
			kept = append([]*Record{r}, kept...)
		}
	}
	if len(first) > 0 {
		b.WriteString(p.paint(bold, "First, so that the deletes can read (never undone)") + "\n")
		writeRecordLines(b, p, first)
	}
	b.WriteString(p.paint(bold, "Destroy, in reverse order of the script") + "\n")
	if len(deletes) == 0 {
		b.WriteString(p.paint(dim, "  (nothing to delete)") + "\n")
	}
	for _, r := range deletes {
		if r.Summary == "" {
			r = withSummary(r, "from "+title[r.Step])
		}
		writeRecordLines(b, p, []*Record{r})
	}
	if len(kept) > 0 {
		b.WriteString(p.paint(bold, "Kept (keep=True)") + "\n")
		writeRecordLines(b, p, kept)
	}
	fmt.Fprintf(b, "\nDestroy: %d to delete, %d kept.\n", len(deletes), len(kept))
	res.writeWarnings(b, p)
}

func withSummary(r *Record, s string) *Record {
	c := *r
	c.Summary = s
	return &c
}
