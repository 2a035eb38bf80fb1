package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// policyFingerprint is the fingerprint HashFingerprint gave a policy's text, for any text
// (HTML characters, control characters, invalid UTF-8), so saved plans keep matching.
func TestPolicyFingerprint(t *testing.T) {
	texts := []string{"", `path "a" { capabilities = ["read"] }`, "<&>\u2028\u2029\x00\t\n\"\\", "\xff\xfe", "é日👍"}
	r := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		texts = append(texts, string(b))
	}
	for _, text := range texts {
		if got, want := policyFingerprint(text), runtime.HashFingerprint(map[string]string{"policy": text}); got != want {
			t.Errorf("%q: %s, want %s", text, got, want)
		}
	}
}

// The raw reads answer what vault/api's Sys().GetPolicy and Logical().Read answer, for a
// present and an absent policy and token role, against the real Vault; and a role's
// fingerprint is the one HashFingerprint of the decoded data gave.
func TestReadDataAsVaultAPI(t *testing.T) {
	servers(t)
	c := apiClient(t, srv.Addr, rootToken(t))
	ctx := context.Background()
	rules := "path \"secret/<a&b>/*\" {\n  capabilities = [\"read\"]\n}\n# é\n"
	if err := c.Sys().PutPolicy("raw-read", rules); err != nil {
		t.Fatal(err)
	}
	role := map[string]any{"allowed_policies": []string{"raw-read", "b"}, "orphan": true, "token_period": "72h",
		"token_bound_cidrs": []string{"10.0.0.0/8"}, "path_suffix": "x-y", "token_num_uses": 3, "allowed_entity_aliases": []string{"<a&b>", "é"}}
	if _, err := c.Logical().Write("auth/token/roles/raw-read", role); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"raw-read", "raw-absent"} {
		want, werr := c.Sys().GetPolicy(name)
		got, err := getPolicy(ctx, c, name)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("policy %q: %q, %v; vault/api: %q, %v", name, got, err, want, werr)
		}
		if name == "raw-read" && got != rules {
			t.Errorf("policy %q: %q, want %q", name, got, rules)
		}

		path := "auth/token/roles/" + name
		sec, werr := c.Logical().Read(path)
		fields, raw, err := readFields(ctx, c, path)
		if err != nil || werr != nil {
			t.Fatalf("%s: %v; vault/api: %v", path, err, werr)
		}
		if (fields == nil) != (sec == nil || sec.Data == nil) {
			t.Fatalf("%s: fields %v; vault/api: %v", path, fields, sec)
		}
		if fields == nil {
			continue
		}
		if got, want := runtime.JSONFingerprint(raw), runtime.HashFingerprint(sec.Data); got != want {
			t.Errorf("%s: fingerprint %s, want %s (%s)", path, got, want, raw)
		}
		if !reflect.DeepEqual(fields, sec.Data) {
			t.Errorf("%s: %#v\nvault/api: %#v", path, fields, sec.Data)
		}
	}
	if _, _, err := readFields(ctx, apiClient(t, srv.Addr, "not-a-token"), "auth/token/roles/raw-read"); err == nil {
		t.Error("a read with a bad token did not fail")
	}
}

// For any data a Go server encodes (as Vault does), the JSON of its "data" hashes as
// HashFingerprint of the data as vault/api decodes it, and readFields' decoding is
// vault/api's.
func TestJSONFingerprintAsHashFingerprint(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var value func(depth int) any
	value = func(depth int) any {
		switch r.IntN(7) {
		case 0:
			return r.IntN(1 << 20)
		case 1:
			return r.Float64() * 1e6
		case 2:
			return r.IntN(2) == 0
		case 3:
			return nil
		case 4:
			if depth < 2 {
				return []any{value(depth + 1), value(depth + 1)}
			}
		case 5:
			if depth < 2 {
				return map[string]any{"b<": value(depth + 1), "a": value(depth + 1)}
			}
		}
		return string([]rune{rune(r.IntN(0x3000)), '<', '&', rune(r.IntN(128)), '\u2028'})
	}
	for range 200 {
		data := map[string]any{}
		for i := range r.IntN(8) {
			data[fmt.Sprintf("k%d%c", i, rune(r.IntN(0x300)))] = value(0)
		}
		body, err := json.Marshal(map[string]any{"data": data, "request_id": "x"})
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		sec, err := api.ParseSecret(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := runtime.JSONFingerprint(raw.Data), runtime.HashFingerprint(sec.Data); got != want {
			t.Errorf("%s: %s, want %s", body, got, want)
		}
	}
}
