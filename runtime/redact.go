package runtime

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Redacted is what a secret becomes in any output.
const Redacted = "(sensitive)"

// minSecretLen keeps tiny values (a "1" key share count, say) from shredding output.
// Secrets shorter than this are still shown as (sensitive) when printed as values; they
// are only not scrubbed from free text.
const minSecretLen = 4

// Redactor scrubs every registered secret, in each of the forms it can leak in (raw,
// JSON- and Go-escaped, base64), from text. It is safe for concurrent use.
type Redactor struct {
	mu       sync.Mutex
	secrets  map[string]bool
	replacer *strings.Replacer // rebuilt lazily after Add
}

func NewRedactor() *Redactor { return &Redactor{secrets: map[string]bool{}} }

// Add registers a secret.
func (r *Redactor) Add(secret string) {
	if len(secret) < minSecretLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets[secret] {
		return
	}
	r.secrets[secret] = true
	r.replacer = nil
}

// Len is the number of registered secrets.
func (r *Redactor) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.secrets)
}

// Redact returns s with every form of every secret replaced by (sensitive).
func (r *Redactor) Redact(s string) string {
	r.mu.Lock()
	rep := r.replacer
	if rep == nil && len(r.secrets) > 0 {
		rep = r.build()
		r.replacer = rep
	}
	r.mu.Unlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// build makes one strings.Replacer for all forms of all secrets: a single pass over the
// text whatever the number of secrets, rather than one scan per secret.
func (r *Redactor) build() *strings.Replacer {
	forms := map[string]bool{}
	for s := range r.secrets {
		for _, f := range secretForms(s) {
			if len(f) >= minSecretLen {
				forms[f] = true
			}
		}
	}
	list := make([]string, 0, len(forms))
	for f := range forms {
		list = append(list, f)
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, f := range list {
		pairs = append(pairs, f, Redacted)
	}
	return strings.NewReplacer(pairs...)
}

func secretForms(s string) []string {
	forms := []string{s}
	if b, err := json.Marshal(s); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	q := strconv.Quote(s)
	forms = append(forms, q[1:len(q)-1])
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(s)))
	}
	return forms
}

// Writer returns an io.Writer that redacts each Write before passing it on. Callers
// write whole lines or whole documents, so a secret is never split across two Writes.
func (r *Redactor) Writer(w io.Writer) io.Writer { return &redactingWriter{r: r, w: w} }

type redactingWriter struct {
	r *Redactor
	w io.Writer
}

func (w *redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
