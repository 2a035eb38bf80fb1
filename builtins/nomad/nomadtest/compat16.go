package nomadtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// nomad16JobFields are fields of Nomad 1.6's api.Job that later nomad/api versions
// removed. A 1.6-era client sends them with every job (without omitempty), and Nomad
// 1.6 accepts them: the tokens were checked only with vault/consul
// allow_unauthenticated = false, and cleared before the job was stored. The double
// decodes against today's api structs, so it takes these out of the body first, and
// drops them as Nomad stores jobs without them.
var nomad16JobFields = []string{"ConsulToken", "VaultToken"}

// decodeJobRequest decodes a register or plan body into out, as decodeStrict does,
// after taking the 1.6-only fields out of its Job. Any other unknown field is still
// refused.
func decodeJobRequest(r *http.Request, out any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return coded(http.StatusBadRequest, "%v", err)
	}
	body = without16Fields(body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decodeStrict(r, out)
}

// withoutTopFields returns body, a JSON object, without the given top-level fields
// (matched case-insensitively); anything else is returned as is.
func withoutTopFields(body []byte, fields []string) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top == nil {
		return body
	}
	removed := false
	for key := range top {
		for _, f := range fields {
			if strings.EqualFold(key, f) {
				delete(top, key)
				removed = true
			}
		}
	}
	if !removed {
		return body
	}
	out, err := json.Marshal(top)
	if err != nil {
		return body
	}
	return out
}

// without16Fields returns body with the 1.6-only fields removed from its top-level
// Job object (JSON names match case-insensitively, as encoding/json matches them).
// A body that is not such an object is returned as is, for decodeStrict to judge.
func without16Fields(body []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return body
	}
	for key, raw := range top {
		if !strings.EqualFold(key, "Job") {
			continue
		}
		var job map[string]json.RawMessage
		if json.Unmarshal(raw, &job) != nil || job == nil {
			return body
		}
		removed := false
		for field := range job {
			for _, old := range nomad16JobFields {
				if strings.EqualFold(field, old) {
					delete(job, field)
					removed = true
				}
			}
		}
		if !removed {
			return body
		}
		b, err := json.Marshal(job)
		if err != nil {
			return body
		}
		top[key] = b
	}
	out, err := json.Marshal(top)
	if err != nil {
		return body
	}
	return out
}
