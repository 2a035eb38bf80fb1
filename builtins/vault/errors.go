package vault

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// explain turns a client error into one a user can act on: it names the Vault address,
// what happened (unreachable, sealed, permission denied) and keeps the server's own
// error text. The request URL is shown as method and path only; no request body (where
// tokens and keys travel) is ever part of it, and the runtime's redactor is a second net.
func (v *vault) explain(err error) error {
	if err == nil {
		return nil
	}
	var done *explained
	if errors.As(err, &done) {
		return err
	}
	return &explained{v.explainText(err), err}
}

// explained marks an error explain has already rewritten. It still unwraps to the
// client's error, so runtime.IsUnreachable sees a Vault that did not answer.
type explained struct{ msg, cause error }

func (e *explained) Error() string { return e.msg.Error() }
func (e *explained) Unwrap() []error {
	if e.cause == nil {
		return []error{e.msg}
	}
	return []error{e.msg, e.cause}
}

func (v *vault) explainText(err error) error {
	var respErr *api.ResponseError
	if errors.As(err, &respErr) {
		req := respErr.HTTPMethod + " " + strings.TrimPrefix(strings.TrimPrefix(respErr.URL, v.addr), "/v1/")
		text := responseText(err)
		switch {
		case respErr.StatusCode == 403:
			return fmt.Errorf("permission denied by Vault at %s (%s): %s", v.addr, req, text)
		case respErr.StatusCode == 503 && strings.Contains(text, "sealed"):
			return fmt.Errorf("Vault at %s is sealed (%s): %s; unseal it first (vault.unseal)", v.addr, req, text)
		default:
			return fmt.Errorf("Vault at %s answered %d to %s: %s", v.addr, respErr.StatusCode, req, text)
		}
	}
	if cutOff(err) {
		return fmt.Errorf("Vault at %s cut its answer off (%s): a write may have been applied; re-running finds out", v.addr, unreachableCause(err))
	}
	if runtime.IsUnreachable(err) {
		return fmt.Errorf("Vault at %s is unreachable: %s", v.addr, unreachableCause(err))
	}
	if runtime.IsTLSError(err) {
		return fmt.Errorf("Vault at %s answered, but TLS failed: %s (VAULT_CACERT names the CA that signs its certificate)", v.addr, unreachableCause(err))
	}
	return fmt.Errorf("Vault at %s: %w", v.addr, err)
}

// unreachableCause is the innermost network error ("dial tcp 127.0.0.1:1: connect:
// connection refused"), without the request URL the url.Error wraps it in.
func unreachableCause(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// statusCode is the HTTP status of a Vault error answer (0 for any other error).
func statusCode(err error) int {
	var respErr *api.ResponseError
	if errors.As(err, &respErr) {
		return respErr.StatusCode
	}
	return 0
}

// responseText is Vault's own error text of an error answer, on one line: Vault wraps
// many in a multierror ("1 error occurred:\n\t* permission denied\n\n").
func responseText(err error) string {
	var respErr *api.ResponseError
	if !errors.As(err, &respErr) {
		return ""
	}
	var parts []string
	for _, e := range respErr.Errors {
		for _, line := range strings.Split(e, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || (strings.HasSuffix(line, "occurred:") && strings.Contains(line, "error")) {
				continue
			}
			parts = append(parts, strings.TrimPrefix(line, "* "))
		}
	}
	return strings.Join(parts, "; ")
}

// cutOff says whether the connection ended before Vault's answer did: the request was
// sent, so Vault may have acted on it.
func cutOff(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
