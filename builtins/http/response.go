package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// response is struct(status, headers, body, json): headers is a dict with lower-case
// names (a Starlark dict cannot match names case-insensitively, so one spelling is
// chosen) and repeated headers joined with ", "; json() decodes the body.
func response(resp *http.Response, body []byte) starlark.Value {
	headers := starlark.NewDict(len(resp.Header))
	joined := map[string]string{}
	for name, vals := range resp.Header {
		joined[strings.ToLower(name)] = strings.Join(vals, ", ")
	}
	for _, name := range runtime.SortedKeys(joined) {
		_ = headers.SetKey(starlark.String(name), starlark.String(joined[name]))
	}
	decode := starlark.NewBuiltin("http.response.json", func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("%s: the body (%d bytes) is not JSON: %w", fn.Name(), len(body), err)
		}
		return runtime.FromJSON(x)
	})
	return runtime.Struct(starlark.StringDict{
		"status":  starlark.MakeInt(resp.StatusCode),
		"headers": headers,
		"body":    starlark.String(body),
		"json":    decode,
	})
}
