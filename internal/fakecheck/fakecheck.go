// Package fakecheck runs a conformance table: the same HTTP request sequences against a
// fake (an http.Handler, in memory) and against the real server it stands for, and
// reports every difference in what the builtins read of the answers. The fakes'
// conformance tests (builtins/*/…fake) use it; "fakes that cannot drift" is this check.
package fakecheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nvrun/nvrun/runtime/fakenet"
)

// Case is one request sequence; the steps run in order, on one server at a time.
type Case struct {
	Name  string
	Steps []Step
}

// Step is one request and what to compare of its answer.
type Step struct {
	Method, Path string
	Body         string // sent as is ("" for none)

	// Pick lists the JSON paths of the answer's body to compare: dotted keys, "[]" for
	// every element of a list, "*" for every value of an object ("[].Service.ID",
	// "*.Port"). Lists of strings are compared sorted. Empty compares no body.
	Pick []string
	// Text compares the body as text (error answers, whose text users see).
	Text bool
	// Save stores values of the answer for later steps, as name -> JSON path ("[0].ModifyIndex");
	// a later step's Path and Body may use {name}.
	Save map[string]string
	// Settle retries the real server's read (every 100ms, up to 10s) until it gives the
	// fake's answer: for what the real server makes consistent in the background (a
	// registration reaching the catalog).
	Settle bool
	// Until makes the step wait, on the fake and on the real server alike, until the
	// answer shows what the builtin waits for (JSON path -> value as text, e.g.
	// {"Status": "successful"}), polling every 100ms for up to 20s, and then compares:
	// comparing a state on its way would let a fake that never gets there pass.
	Until map[string]string
}

// Outcome is what is compared of one answer.
type Outcome struct {
	Status int
	Body   any    `json:",omitempty"`
	Text   string `json:",omitempty"`
}

// Run runs every case against the fake and against the real server at base (a URL,
// "http://127.0.0.1:8500"), comparing outcomes step by step. prepare, if set, may add
// headers (a token) to every request.
func Run(t *testing.T, cases []Case, fake http.Handler, base string, prepare func(*http.Request)) {
	t.Helper()
	fakeClient := &http.Client{Transport: fakenet.Transport(fake)}
	realClient := &http.Client{Timeout: 30 * time.Second}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			fv, rv := map[string]string{}, map[string]string{}
			for i, s := range c.Steps {
				want, err := doUntil(fakeClient, base, s, fv, prepare)
				if err != nil {
					t.Fatalf("step %d (%s %s) on the fake: %v", i+1, s.Method, s.Path, err)
				}
				var got Outcome
				deadline := time.Now().Add(10 * time.Second)
				for {
					got, err = doUntil(realClient, base, s, rv, prepare)
					if err != nil {
						t.Fatalf("step %d (%s %s) on the real server: %v", i+1, s.Method, s.Path, err)
					}
					if !s.Settle || Equal(got, want) || time.Now().After(deadline) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if testing.Verbose() {
					t.Logf("step %d: %s %s: %s", i+1, s.Method, expand(s.Path, rv), render(got))
				}
				if !Equal(got, want) {
					t.Errorf("step %d: %s %s: the fake and the real server differ\n%s", i+1, s.Method, expand(s.Path, rv), Diff(want, got))
				}
			}
		})
	}
}

// doUntil is do, again until the step's Until holds (or 20s have passed).
func doUntil(c *http.Client, base string, s Step, vars map[string]string, prepare func(*http.Request)) (Outcome, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, raw, err := do(c, base, s, vars, prepare)
		if err != nil || len(s.Until) == 0 || time.Now().After(deadline) {
			return out, err
		}
		holds := true
		for p, want := range s.Until {
			if strings.Trim(flatten(Pick(raw, []string{p})), `"`) != want {
				holds = false
			}
		}
		if holds {
			return out, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do sends one step and picks what it compares; vars holds what earlier steps saved.
// It also returns the whole decoded body.
func do(c *http.Client, base string, s Step, vars map[string]string, prepare func(*http.Request)) (Outcome, any, error) {
	var body io.Reader
	if s.Body != "" {
		body = strings.NewReader(expand(s.Body, vars))
	}
	req, err := http.NewRequest(s.Method, strings.TrimRight(base, "/")+expand(s.Path, vars), body)
	if err != nil {
		return Outcome{}, nil, err
	}
	if prepare != nil {
		prepare(req)
	}
	res, err := c.Do(req)
	if err != nil {
		return Outcome{}, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Outcome{}, nil, err
	}
	out := Outcome{Status: res.StatusCode}
	if s.Text {
		out.Text = strings.TrimSpace(string(b))
	}
	var v any
	if len(s.Pick) > 0 || len(s.Save) > 0 || len(s.Until) > 0 {
		if len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, &v); err != nil {
				return out, nil, fmt.Errorf("answer %d is not JSON: %v: %.200s", res.StatusCode, err, b)
			}
		}
		if len(s.Pick) > 0 {
			out.Body = Pick(v, s.Pick)
		}
		for name, p := range s.Save {
			got := Pick(v, []string{p})
			vars[name] = strings.Trim(flatten(got), `"`)
		}
	}
	return out, v, nil
}

var varRE = regexp.MustCompile(`\{([a-z_]+)\}`)

func expand(s string, vars map[string]string) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// flatten is the one scalar a Save path picks.
func flatten(v any) string {
	for {
		switch x := v.(type) {
		case map[string]any:
			if len(x) != 1 {
				b, _ := json.Marshal(x)
				return string(b)
			}
			for _, e := range x {
				v = e
			}
		case []any:
			if len(x) != 1 {
				b, _ := json.Marshal(x)
				return string(b)
			}
			v = x[0]
		default:
			b, _ := json.Marshal(x)
			return string(b)
		}
	}
}

// Pick is the part of v the paths name, in the same shape.
func Pick(v any, paths []string) any {
	var out any
	for _, p := range paths {
		var segs []string
		if p != "" {
			segs = strings.Split(strings.ReplaceAll(p, "[]", ".[]"), ".")
		}
		var clean []string
		for _, s := range segs {
			if s != "" {
				clean = append(clean, s)
			}
		}
		out = merge(out, pick(v, clean))
	}
	return out
}

func pick(v any, segs []string) any {
	if len(segs) == 0 {
		return normal(v)
	}
	seg, rest := segs[0], segs[1:]
	switch {
	case seg == "[]":
		l, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("(not a list: %T)", v)
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = pick(e, rest)
		}
		return out
	case strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]"):
		l, ok := v.([]any)
		var i int
		if _, err := fmt.Sscanf(seg, "[%d]", &i); err != nil || !ok || i >= len(l) {
			return "(no element " + seg + ")"
		}
		return []any{pick(l[i], rest)}
	case seg == "*":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("(not an object: %T)", v)
		}
		out := map[string]any{}
		for k, e := range m {
			out[k] = pick(e, rest)
		}
		return out
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprintf("(not an object: %T)", v)
	}
	e, has := m[seg]
	if !has {
		return map[string]any{seg: "(absent)"}
	}
	return map[string]any{seg: pick(e, rest)}
}

// merge combines two picks of the same value.
func merge(a, b any) any {
	if a == nil {
		return b
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return a
		}
		for k, v := range y {
			x[k] = merge(x[k], v)
		}
		return x
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return a
		}
		for i := range x {
			x[i] = merge(x[i], y[i])
		}
		return x
	}
	return a
}

// normal sorts lists of strings (Consul and Nomad do not promise their order).
func normal(v any) any {
	if l, ok := v.([]any); ok {
		strs := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return v
			}
			strs = append(strs, s)
		}
		sort.Strings(strs)
		out := make([]any, len(strs))
		for i, s := range strs {
			out[i] = s
		}
		return out
	}
	return v
}

// Equal says whether two outcomes are the same.
func Equal(a, b Outcome) bool { return render(a) == render(b) }

func render(o Outcome) string {
	b, _ := json.MarshalIndent(o, "", "  ")
	return string(b)
}

// Diff shows two outcomes line by line: "-" the fake's, "+" the real server's.
func Diff(fake, real Outcome) string {
	return LineDiff(render(fake), render(real))
}

// LineDiff is a minimal line diff of a (-) and b (+), with the common lines as context.
func LineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	// longest common subsequence
	n, m := len(al), len(bl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	out.WriteString("--- fake\n+++ real\n")
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			out.WriteString("  " + al[i] + "\n")
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + bl[j] + "\n")
			j++
		default:
			out.WriteString("- " + al[i] + "\n")
			i++
		}
	}
	return out.String()
}
