package runtime

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"
)

// referenceRedact is the redactor as one strings.Replacer over every form, longest
// first: the semantics the indexed Redactor must keep.
func referenceRedact(secrets []string, s string) string {
	seen := map[string]bool{}
	var forms []string
	for _, sec := range secrets {
		if len(sec) < minSecretLen {
			continue
		}
		for _, f := range secretForms(sec) {
			if len(f) >= minSecretLen && !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return s
	}
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	var pairs []string
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Secrets that overlap, contain each other, share prefixes, need escaping or are too
// short, in random text: the indexed redactor gives what the single replacer gives.
func TestRedactorMatchesReplacer(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := "abcdAB01+/=\"\\\n é"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[rng.Intn(len(alphabet))])
		}
		return b.String()
	}
	for round := range 300 {
		r := NewRedactor()
		var secrets []string
		for range 1 + rng.Intn(6) {
			var sec string
			switch k := rng.Intn(4); {
			case k == 0 && len(secrets) > 0: // contains an earlier one
				sec = word(rng.Intn(3)) + secrets[rng.Intn(len(secrets))] + word(rng.Intn(3))
			case k == 1 && len(secrets) > 0: // a prefix of an earlier one
				p := secrets[rng.Intn(len(secrets))]
				sec = p[:rng.Intn(len(p)+1)]
			default:
				sec = word(2 + rng.Intn(10))
			}
			secrets = append(secrets, sec)
			r.Add(sec)
		}
		var text strings.Builder
		for range 20 {
			if rng.Intn(3) == 0 {
				sec := secrets[rng.Intn(len(secrets))]
				forms := secretForms(sec)
				text.WriteString(forms[rng.Intn(len(forms))])
			} else {
				text.WriteString(word(rng.Intn(6)))
			}
		}
		in := text.String()
		if got, want := r.Redact(in), referenceRedact(secrets, in); got != want {
			t.Fatalf("round %d, secrets %q:\nRedact(%q)\n = %q\nwant %q", round, secrets, in, got, want)
		}
	}
}

// Registering secrets between output lines stays linear: 4x the secrets may not take
// much more than 4x the time (a rebuild per Add made it 16x).
func TestRedactorAddIsIncremental(t *testing.T) {
	run := func(n int) time.Duration {
		r := NewRedactor()
		start := time.Now()
		for i := range n {
			r.Add(fmt.Sprintf("hvs.CAESI%020dxyzXYZabcdefgh", i))
			r.Redact("  + vault token \"nomad-server\"  new token: done (3ms)\n")
		}
		return time.Since(start)
	}
	run(200) // warm up
	small, large := run(500), run(2000)
	if large > 10*small+50*time.Millisecond {
		t.Errorf("500 secrets: %s, 2000 secrets: %s: registering secrets grows faster than linearly", small, large)
	}
}

func BenchmarkRedactManySecrets(b *testing.B) {
	r := NewRedactor()
	for i := range 2000 {
		r.Add(fmt.Sprintf("hvs.CAESI%020dxyzXYZabcdefgh", i))
	}
	line := strings.Repeat("  ~ vault policy \"nomad-server\"  1 change of 7 paths\n", 100)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		r.Redact(line)
	}
}

// Text full of hex (accessors, UUIDs, lease IDs) with hex secrets registered (unseal
// keys, whose upper-case and hex-of-bytes forms are indexed too): the case the hex forms
// could slow down.
func BenchmarkRedactHexText(b *testing.B) {
	r := NewRedactor()
	for i := range 200 {
		r.Add(fmt.Sprintf("%064x", i*7919+1))
		r.Add(fmt.Sprintf("hvs.CAESI%020dxyzXYZabcdefgh", i))
	}
	var text strings.Builder
	for i := range 50 {
		fmt.Fprintf(&text, "  lease_id database/creds/app/%08x-%04x-4%03x-8%03x-%012x (%d)\n", i*2654435761, i, i, i, i*40503, i)
	}
	line := text.String()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		r.Redact(line)
	}
}
