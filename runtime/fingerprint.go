package runtime

import (
	"crypto/sha256"
	"encoding/hex"
)

// JSONFingerprint is HashFingerprint of an answer given as its JSON encoding, for a
// builtin that has the bytes already (a server's answer as it came): no decoding and
// re-encoding. For bytes equal to encoding/json's encoding of v it equals
// HashFingerprint(v).
func JSONFingerprint(b []byte) Fingerprint {
	sum := sha256.Sum256(b)
	return Fingerprint("sha256:" + hex.EncodeToString(sum[:12]))
}
