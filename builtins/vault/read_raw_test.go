package vault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

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
		data, err := readData(ctx, c, path)
		if err != nil || werr != nil {
			t.Fatalf("%s: %v; vault/api: %v", path, err, werr)
		}
		if (data == nil) != (sec == nil || sec.Data == nil) {
			t.Fatalf("%s: data %s; vault/api: %v", path, data, sec)
		}
		if data == nil {
			continue
		}
		if got, want := runtime.JSONFingerprint(data), runtime.HashFingerprint(sec.Data); got != want {
			t.Errorf("%s: fingerprint %s, want %s (data %s)", path, got, want, data)
		}
		for k, v := range sec.Data {
			var live map[string]any
			if err := jsonUnmarshalNumber(data, &live); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(live[k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, vault/api: %v", path, k, live[k], v)
			}
		}
	}
	if _, err := readData(ctx, apiClient(t, srv.Addr, "not-a-token"), "auth/token/roles/raw-read"); err == nil {
		t.Error("a read with a bad token did not fail")
	}
}

func jsonUnmarshalNumber(b []byte, v any) error {
	x, err := decodeNumber(b)
	if err != nil {
		return err
	}
	m, _ := x.(map[string]any)
	*(v.(*map[string]any)) = m
	return nil
}
