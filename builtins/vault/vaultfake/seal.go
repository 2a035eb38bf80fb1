package vaultfake

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

const version = "1.14.1"

// unauthenticated answers the paths Vault serves without a token (and while sealed);
// nil for every other path.
func (f *Fake) unauthenticated(req *request) *answer {
	var a answer
	switch req.path {
	case "sys/seal-status":
		if req.op != "read" {
			a = unsupported
			break
		}
		a = ok(f.sealStatus())
	case "sys/init":
		a = f.serveInit(req)
	case "sys/unseal":
		a = f.serveUnseal(req)
	case "sys/leader":
		if req.op != "read" {
			a = unsupported
			break
		}
		a = ok(map[string]any{
			"ha_enabled": false, "is_self": false, "active_time": "0001-01-01T00:00:00Z",
			"leader_address": "", "leader_cluster_address": "", "performance_standby": false,
			"performance_standby_last_remote_wal": 0,
		})
	case "sys/health":
		a = f.health()
	default:
		return nil
	}
	return &a
}

func (f *Fake) sealStatus() map[string]any {
	st := map[string]any{
		"type": "shamir", "initialized": f.initialized, "sealed": f.sealed || !f.initialized,
		"t": 0, "n": 0, "progress": f.progress, "nonce": "", "version": version, "build_date": "",
		"migration": false, "recovery_seal": false, "storage_type": "file",
	}
	if f.initialized {
		st["t"], st["n"] = f.threshold, f.shares
	}
	if f.progress > 0 {
		st["nonce"] = "00000000-0000-0000-0000-000000000000"
	}
	if f.initialized && !f.sealed {
		st["cluster_name"], st["cluster_id"] = f.clusterName, f.clusterID
	}
	return st
}

func (f *Fake) health() answer {
	h := map[string]any{
		"initialized": f.initialized, "sealed": f.sealed || !f.initialized, "standby": f.sealed || !f.initialized,
		"performance_standby": false, "replication_performance_mode": "unknown", "replication_dr_mode": "unknown",
		"server_time_utc": time.Now().Unix(), "version": version,
	}
	switch {
	case !f.initialized:
		return answer{http.StatusNotImplemented, h}
	case f.sealed:
		return answer{http.StatusServiceUnavailable, h}
	}
	h["replication_performance_mode"], h["replication_dr_mode"] = "disabled", "disabled"
	h["cluster_name"], h["cluster_id"] = f.clusterName, f.clusterID
	return ok(h)
}

func (f *Fake) serveInit(req *request) answer {
	switch req.op {
	case "read":
		return ok(map[string]any{"initialized": f.initialized})
	case "update":
	default:
		return unsupported
	}
	if f.initialized {
		return fail(http.StatusBadRequest, "Vault is already initialized")
	}
	shares, _ := intField(req.body["secret_shares"])
	threshold, _ := intField(req.body["secret_threshold"])
	switch {
	case shares < 1:
		return fail(http.StatusBadRequest, "invalid seal configuration: shares must be at least one")
	case threshold < 1:
		return fail(http.StatusBadRequest, "invalid seal configuration: threshold must be at least one")
	case threshold > shares:
		return fail(http.StatusBadRequest, "invalid seal configuration: threshold cannot be larger than shares")
	case shares > 1 && threshold == 1:
		return fail(http.StatusBadRequest, "invalid seal configuration: threshold must be greater than one for multiple shares")
	}
	if pgp, _ := req.body["pgp_keys"].([]any); len(pgp) > 0 {
		return fail(http.StatusBadRequest, "vaultfake: pgp_keys are not supported")
	}
	f.shares, f.threshold, f.sealed, f.progress = int(shares), int(threshold), true, 0
	f.unsealKeys = nil
	var b64 []string
	for i := 0; i < f.shares; i++ {
		k := f.bytes(33)
		f.unsealKeys = append(f.unsealKeys, hex.EncodeToString(k))
		b64 = append(b64, base64.StdEncoding.EncodeToString(k))
	}
	f.setInitialised()
	// A Vault initialised through the API knows its root token and keys, as the real one.
	f.anyToken, f.anyKey = false, false
	root := f.mintRoot()
	return ok(map[string]any{"keys": f.unsealKeys, "keys_base64": b64, "root_token": root.ID})
}

func (f *Fake) serveUnseal(req *request) answer {
	if req.op != "update" {
		return unsupported
	}
	if reset, _ := req.body["reset"].(bool); reset {
		f.progress, f.wrongKey = 0, false
		return ok(f.sealStatus())
	}
	key, _ := req.body["key"].(string)
	raw, err := hex.DecodeString(key)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(key); err != nil {
			return fail(http.StatusBadRequest, "'key' must be a valid hex or base64 string")
		}
	}
	if !f.initialized {
		return fail(http.StatusBadRequest, "Vault is not initialized")
	}
	if !f.sealed {
		return ok(f.sealStatus())
	}
	// As Vault: keys are collected until the threshold, and only then found right or
	// wrong (a wrong one fails the whole attempt, which starts over).
	known := f.anyKey
	for _, k := range f.unsealKeys {
		known = known || strings.EqualFold(k, hex.EncodeToString(raw))
	}
	f.progress++
	f.wrongKey = f.wrongKey || !known
	if f.progress >= f.threshold {
		wrong := f.wrongKey
		f.progress, f.wrongKey = 0, false
		if wrong {
			return fail(http.StatusBadRequest, "unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: cipher: message authentication failed")
		}
		f.sealed = false
	}
	return ok(f.sealStatus())
}

// serveSeal seals the fake (sys/seal), as a test of a sealed Vault does.
func (f *Fake) serveSeal(req *request) answer {
	if req.op != "update" {
		return unsupported
	}
	f.sealed, f.progress = true, 0
	return noContent()
}
