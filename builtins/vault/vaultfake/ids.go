package vaultfake

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// The fake makes up ids (tokens, accessors, keys, lease ids) from a counter, so that
// its answers are reproducible; they have the shapes of Vault's. Callers hold f.mu.

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// bytes returns n made-up bytes.
func (f *Fake) bytes(n int) []byte {
	var out []byte
	for len(out) < n {
		f.seq++
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(f.seq))
		sum := sha256.Sum256(append([]byte("vaultfake"), b[:]...))
		out = append(out, sum[:]...)
	}
	return out[:n]
}

func (f *Fake) hexID(n int) string { return hex.EncodeToString(f.bytes(n)) }

// base62ID is n characters of [0-9A-Za-z], the alphabet of Vault's accessors and lease ids.
func (f *Fake) base62ID(n int) string {
	b := f.bytes(n)
	out := make([]byte, n)
	for i, c := range b {
		out[i] = base62[int(c)%len(base62)]
	}
	return string(out)
}

func (f *Fake) uuid() string {
	b := f.bytes(16)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newToken is a service token's id: "hvs." and 24 characters, like a root token.
func (f *Fake) newTokenID() string { return "hvs." + f.base62ID(24) }
