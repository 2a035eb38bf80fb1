package nomadfake

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// decodeJob decodes a job dict (plain Go, from runtime.ToGo) as the Nomad API would a
// job's JSON, refusing a field nomad/api's Job does not have: a typo must not vanish.
func decodeJob(plain any) (*api.Job, error) {
	b, err := json.Marshal(plain)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j api.Job
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("not a Nomad job (nomad/api JSON shape): %w", err)
	}
	return &j, nil
}
