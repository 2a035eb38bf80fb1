package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// Reads of the resources a plan reads by the thousand (policies, token roles) take the
// answer's "data" as raw JSON instead of vault/api's Secret: api.ParseSecret copies the
// body twice and decodes every field into maps, and the fingerprint then re-encoded
// them; together a third of a live plan's CPU beyond the requests at 2,000 roles. The
// request is still vault/api's (NewRequest, RawRequestWithContext: token, namespace,
// timeout, transport), and the answers mean what Logical().Read and Sys().GetPolicy
// make of them.

// readData GETs path (without "/v1/") and returns the answer's "data" object as raw
// JSON; nil and no error when there is none: a 404, an empty answer or a null "data",
// which Logical().Read returns as a nil secret or nil Data. (Logical().Read also passes
// on the data of a 404 that has some, as a deleted KV v2 version's; the paths read here
// have none.)
func readData(ctx context.Context, c *api.Client, path string) (json.RawMessage, error) {
	if t := c.ClientTimeout(); t > 0 { // as vault/api's own reads do
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	resp, err := c.RawRequestWithContext(ctx, c.NewRequest(http.MethodGet, "/v1/"+path))
	if resp != nil {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // no body
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if bytes.Equal(body.Data, []byte("null")) {
		return nil, nil
	}
	return body.Data, nil
}

// getPolicy is Sys().GetPolicyWithContext: the ACL policy's text, "" if there is none.
func getPolicy(ctx context.Context, c *api.Client, name string) (string, error) {
	data, err := readData(ctx, c, "sys/policies/acl/"+name)
	if err != nil || data == nil {
		return "", err
	}
	var d struct {
		Policy *string `json:"policy"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return "", fmt.Errorf("policy %q: %w", name, err)
	}
	if d.Policy == nil {
		return "", fmt.Errorf("no policy found in response")
	}
	return *d.Policy, nil
}

// policyFingerprint is runtime.HashFingerprint(map[string]string{"policy": text}),
// without encoding a map.
func policyFingerprint(text string) runtime.Fingerprint {
	s, err := json.Marshal(text)
	if err != nil {
		return runtime.HashFingerprint(map[string]string{"policy": text})
	}
	b := make([]byte, 0, len(s)+12)
	b = append(b, `{"policy":`...)
	b = append(b, s...)
	return runtime.JSONFingerprint(append(b, '}'))
}

// decodeNumber decodes one JSON value as vault/api's secrets hold it (numbers as
// json.Number); nil for an absent or null value.
func decodeNumber(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	err := dec.Decode(&x)
	return x, err
}
