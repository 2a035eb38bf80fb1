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

// readData GETs path (without "/v1/") and decodes the answer into body, whose "data"
// field says what to keep of it; found is false for a 404, which Logical().Read returns
// as a nil secret (and an empty answer leaves body as it is). (Logical().Read also passes on the data of a
// 404 that has some, as a deleted KV v2 version's; the paths read here have none.) The
// answer is decoded once, straight into body: vault/api's ParseSecret copies it twice
// and decodes every field into maps.
func readData(ctx context.Context, c *api.Client, path string, body any) (found bool, err error) {
	if t := c.ClientTimeout(); t > 0 { // as vault/api's own reads do
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	resp, err := c.RawRequestWithContext(ctx, c.NewRequest(http.MethodGet, "/v1/"+path))
	if resp != nil {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return false, nil
		}
	}
	if err != nil {
		return false, err
	}
	if err := json.NewDecoder(resp.Body).Decode(body); err != nil {
		if errors.Is(err, io.EOF) {
			return true, nil // no body: body stays empty
		}
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return true, nil
}

// readFields reads path's data: decoded as vault/api decodes a secret's Data (numbers
// as json.Number), and as Vault encoded it, for the fingerprint. Vault encodes with
// encoding/json (map keys sorted, compact), so those bytes are what HashFingerprint of
// the decoded data hashed, without encoding it again (TestReadDataAsVaultAPI). Nil when
// there is none: absent, or a null "data", which Logical().Read returns as nil Data.
func readFields(ctx context.Context, c *api.Client, path string) (map[string]any, json.RawMessage, error) {
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if _, err := readData(ctx, c, path, &body); err != nil {
		return nil, nil, err
	}
	if len(body.Data) == 0 || bytes.Equal(body.Data, []byte("null")) {
		return nil, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body.Data))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return fields, body.Data, nil
}

// getPolicy is Sys().GetPolicyWithContext: the ACL policy's text, "" if there is none.
func getPolicy(ctx context.Context, c *api.Client, name string) (string, error) {
	var body struct {
		Data *struct {
			Policy *string `json:"policy"`
		} `json:"data"`
	}
	found, err := readData(ctx, c, "sys/policies/acl/"+name, &body)
	switch {
	case err != nil || !found:
		return "", err
	case body.Data == nil:
		return "", errors.New("data from server response is empty")
	case body.Data.Policy == nil:
		return "", errors.New("no policy found in response")
	}
	return *body.Data.Policy, nil
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
