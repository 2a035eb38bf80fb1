package nomadtest

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Query parameters of Nomad's list endpoints: ?filter= (go-bexpr), ?per_page= and
// ?next_token= (pagination), ?reverse=. The double paginates as Nomad 1.6 does, but
// cannot evaluate filter expressions (go-bexpr is not available to it): it refuses
// them with Nomad's 400 for a filter it cannot read, rather than answer unfiltered.

// refuseFilter answers 400 to a read with ?filter= (any endpoint: the double cannot
// tell the ones Nomad filters from those that ignore it, and must not answer
// unfiltered where Nomad filters).
func refuseFilter(r *http.Request) error {
	if f := r.URL.Query().Get("filter"); f != "" {
		return coded(http.StatusBadRequest, "failed to read filter expression: filter expressions are not evaluated by the nomadtest double")
	}
	return nil
}

// pageKey orders list items as Nomad's paginator tokens do: by create index then ID
// (evaluations, allocations, deployments), by namespace then ID (jobs), or by ID.
type pageKey struct {
	byIndex bool
	index   uint64
	ns      string
	withNS  bool
	id      string
}

func (k pageKey) token() string {
	switch {
	case k.byIndex:
		return fmt.Sprintf("%d.%s", k.index, k.id)
	case k.withNS:
		return k.ns + "." + k.id
	}
	return k.id
}

func (k pageKey) less(o pageKey) bool {
	if k.byIndex && k.index != o.index {
		return k.index < o.index
	}
	if k.withNS && k.ns != o.ns {
		return k.ns < o.ns
	}
	return k.id < o.id
}

// parseToken reads a next_token in the shape of template's tokens.
func parseToken(tok string, template pageKey) pageKey {
	k := pageKey{byIndex: template.byIndex, withNS: template.withNS, id: tok}
	switch {
	case template.byIndex:
		if idx, id, ok := strings.Cut(tok, "."); ok {
			if n, err := strconv.ParseUint(idx, 10, 64); err == nil {
				k.index, k.id = n, id
			}
		}
	case template.withNS:
		k.ns, k.id, _ = strings.Cut(tok, ".")
	}
	return k
}

// paginate orders items by key (reversed with ?reverse=true), starts at ?next_token=
// and cuts at ?per_page=, setting X-Nomad-NextToken to the first item left out.
func paginate[T any](r *http.Request, items []T, key func(T) pageKey) ([]T, error) {
	q := r.URL.Query()
	reverse, err := boolParam(q, "reverse")
	if err != nil {
		return nil, err
	}
	perPage := 0
	if raw := q.Get("per_page"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 32)
		if err != nil || n < 0 {
			return nil, coded(http.StatusBadRequest, "Failed to parse value of %q (%v) as a uint32: %v", "per_page", raw, err)
		}
		perPage = int(n)
	}
	sort.SliceStable(items, func(i, j int) bool {
		if reverse {
			return key(items[j]).less(key(items[i]))
		}
		return key(items[i]).less(key(items[j]))
	})
	if tok := q.Get("next_token"); tok != "" && len(items) > 0 {
		start := parseToken(tok, key(items[0]))
		i := 0
		for i < len(items) {
			k := key(items[i])
			if (!reverse && !k.less(start)) || (reverse && !start.less(k)) {
				break
			}
			i++
		}
		items = items[i:]
	}
	if perPage > 0 && len(items) > perPage {
		setNextToken(r, key(items[perPage]).token())
		items = items[:perPage]
	}
	return items, nil
}
