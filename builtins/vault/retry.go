package vault

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// A plan's reads ahead (runtime.Resource.AsyncResult) come ten at a time, and a Vault
// behind a rate limit quota or a busy load balancer may answer some of them 429 or 5xx.
// The runtime retries those with a capped backoff; this file says which they are. The
// client itself never retries (newClient sets MaxRetries 0), so there is one retry loop,
// and a sequential read or any write still fails at once with Vault's own answer.

// retryable says whether a read ahead that failed with err is worth another try: Vault
// answered 429, 500, 502, 503 or 504, and is not sealed (a sealed Vault stays sealed
// until someone unseals it; its 503 is reported at once).
func retryable(err error) bool {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch re.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	case http.StatusServiceUnavailable:
		return !strings.Contains(strings.Join(re.Errors, " "), "sealed")
	}
	return false
}

// retryAfterTransport hands a 429 or 503 answer's Retry-After to the runtime (vault/api's
// ResponseError keeps no headers), so that a read ahead waits as long as Vault asked.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		runtime.NoteRetryAfter(req.Context(), resp.Header.Get("Retry-After"))
	}
	return resp, err
}
