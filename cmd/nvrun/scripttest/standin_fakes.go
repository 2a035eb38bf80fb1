package scripttest

// THROWAWAY: stand-ins for the fake packages until vaultfake/fakes are merged.

import (
	"fmt"
	"net/http"

	"go.starlark.net/starlark"
)

func standinConsul([]starlark.Tuple) (http.Handler, error) {
	return nil, fmt.Errorf("state.consul: not yet")
}

type standinAnswers map[string]string

func (a standinAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s, ok := a[r.URL.String()]; ok {
		w.Write([]byte(s))
		return
	}
	w.WriteHeader(404)
}

func standinHTTP(kwargs []starlark.Tuple) (http.Handler, error) {
	a := standinAnswers{}
	for _, kv := range kwargs {
		if kv[0].(starlark.String) != "answers" {
			return nil, fmt.Errorf("state.http: unknown key %s (did you mean \"answers\"?)", kv[0])
		}
		d := kv[1].(*starlark.Dict)
		for _, it := range d.Items() {
			b, _, _ := it[1].(*starlark.Dict).Get(starlark.String("body"))
			a[string(it[0].(starlark.String))] = string(b.(starlark.String))
		}
	}
	return a, nil
}
