package runtime

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
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
// JSON- and Go-escaped, base64, percent-encoded, hex), from text. It is safe for concurrent use.
//
// The forms are indexed by their leading bytes, and Redact makes one pass over the text,
// replacing at each position the longest form that starts there. Adding a secret only
// adds to the index: a run that registers secrets one by one between output lines (a
// token per resource, say) stays linear, where rebuilding one strings.Replacer over all
// forms after each Add took 10 s for 2,000 secrets.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]bool
	// forms holds every form under its key: the form itself if it is shorter than
	// formKeyLen, else its first formKeyLen bytes (Vault tokens share their first eight,
	// "hvs.CAES"). A key's forms are sorted longest first.
	forms     map[string][]string
	known     map[string]bool      // every form
	shortLens uint32               // bit l: some form of length l < formKeyLen exists
	starts    [1 << 16 / 64]uint64 // bit set: some form starts with these two bytes
}

// formKeyLen is how many leading bytes index a long form.
const formKeyLen = 16

func NewRedactor() *Redactor {
	return &Redactor{secrets: map[string]bool{}, forms: map[string][]string{}, known: map[string]bool{}}
}

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
	for _, f := range secretForms(secret) {
		if len(f) >= minSecretLen {
			r.addForm(f)
		}
	}
}

func (r *Redactor) addForm(f string) {
	if r.known[f] {
		return
	}
	r.known[f] = true
	key := f
	if len(f) >= formKeyLen {
		key = f[:formKeyLen]
	} else {
		r.shortLens |= 1 << len(f)
	}
	list := r.forms[key]
	// Secrets with a common prefix share a key: find the place by binary search.
	i := sort.Search(len(list), func(j int) bool { return len(list[j]) < len(f) })
	list = append(list, "")
	copy(list[i+1:], list[i:])
	list[i] = f
	r.forms[key] = list
	b := uint16(f[0])<<8 | uint16(f[1])
	r.starts[b/64] |= 1 << (b % 64)
}

// Len is the number of registered secrets.
func (r *Redactor) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.secrets)
}

// Redact returns s with every form of every secret replaced by (sensitive). At each
// position the longest form wins, so a secret that contains another is replaced whole.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.forms) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+minSecretLen <= len(s); {
		two := uint16(s[i])<<8 | uint16(s[i+1])
		if r.starts[two/64]&(1<<(two%64)) == 0 {
			i++
			continue
		}
		match := r.longestAt(s[i:])
		if match == 0 {
			i++
			continue
		}
		if last == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(Redacted)
		i += match
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// longestAt is the length of the longest form s starts with (0 if none).
func (r *Redactor) longestAt(s string) int {
	if len(s) >= formKeyLen {
		for _, f := range r.forms[s[:formKeyLen]] {
			if strings.HasPrefix(s, f) {
				return len(f)
			}
		}
	}
	for l := min(len(s), formKeyLen-1); l >= minSecretLen; l-- {
		if r.shortLens&(1<<l) != 0 {
			if _, ok := r.forms[s[:l]]; ok {
				return l
			}
		}
	}
	return 0
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
	// A password in a connection URL or a query string.
	forms = append(forms, url.QueryEscape(s), url.PathEscape(s))
	// The hex of the secret's bytes (a debug dump, a hashed-looking header), both cases.
	h := hex.EncodeToString([]byte(s))
	forms = append(forms, h, strings.ToUpper(h))
	// A hex secret (Vault's unseal keys) in the other case.
	if isHex(s) {
		forms = append(forms, strings.ToLower(s), strings.ToUpper(s))
	}
	return forms
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
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
