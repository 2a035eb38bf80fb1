package consulfake

import (
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxValue is Consul's default kv_max_value_size.
const maxValue = 512 * 1024

// Put sets a KV entry, as an unconditional PUT /v1/kv/:key does.
func (f *Fake) Put(key string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.putLocked(key, value, 0)
}

func (f *Fake) putLocked(key string, value []byte, flags uint64) {
	idx := f.bump()
	e := &kvEntry{Value: append([]byte(nil), value...), Flags: flags, CreateIndex: idx, ModifyIndex: idx}
	if old := f.kv[key]; old != nil {
		e.CreateIndex = old.CreateIndex
	}
	f.kv[key] = e
}

func (f *Fake) kvRequest(r *http.Request, key string) (*answer, error) {
	q := r.URL.Query()
	if q.Has("acquire") || q.Has("release") {
		return nil, errorf(http.StatusBadRequest, "consulfake: sessions and KV locks (?acquire, ?release) are not served")
	}
	switch r.Method {
	case http.MethodGet:
		return f.kvGet(key, q.Has("recurse"), q.Has("keys"))
	case http.MethodPut:
		if key == "" {
			return nil, errorf(http.StatusBadRequest, "Missing key name")
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxValue+1))
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%v", err)
		}
		if len(body) > maxValue {
			return nil, errorf(http.StatusRequestEntityTooLarge, "Request body(%d bytes) too large, max size: %d bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.", len(body), maxValue)
		}
		var flags uint64
		if s := q.Get("flags"); s != "" {
			if flags, err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, errorf(http.StatusBadRequest, "Invalid flags: %v", err)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if q.Has("cas") {
			cas, err := strconv.ParseUint(q.Get("cas"), 10, 64)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Invalid cas index: %v", err)
			}
			cur := f.kv[key]
			if (cas == 0 && cur != nil) || (cas != 0 && (cur == nil || cur.ModifyIndex != cas)) {
				return ok(false), nil
			}
		}
		f.putLocked(key, body, flags)
		return ok(true), nil
	case http.MethodDelete:
		f.mu.Lock()
		defer f.mu.Unlock()
		if q.Has("cas") {
			cas, err := strconv.ParseUint(q.Get("cas"), 10, 64)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Invalid cas index: %v", err)
			}
			if cur := f.kv[key]; cur == nil || cur.ModifyIndex != cas {
				return ok(false), nil
			}
		}
		deleted := false
		for k := range f.kv {
			if k == key || (q.Has("recurse") && strings.HasPrefix(k, key)) {
				delete(f.kv, k)
				deleted = true
			}
		}
		if deleted {
			f.bump()
		}
		return ok(true), nil
	}
	return nil, methodNotAllowed(r.Method)
}

func (f *Fake) kvGet(key string, recurse, keysOnly bool) (*answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []any
	for _, k := range slices.Sorted(maps.Keys(f.kv)) {
		if k != key && !((recurse || keysOnly) && strings.HasPrefix(k, key)) {
			continue
		}
		if keysOnly {
			out = append(out, k)
			continue
		}
		e := f.kv[k]
		var v any // JSON null for an empty value, as Consul
		if len(e.Value) > 0 {
			v = e.Value // []byte: base64, as Consul
		}
		out = append(out, map[string]any{"LockIndex": 0, "Key": k, "Flags": e.Flags, "Value": v,
			"CreateIndex": e.CreateIndex, "ModifyIndex": e.ModifyIndex})
	}
	if len(out) == 0 {
		return &answer{code: http.StatusNotFound, body: nil, index: f.index}, nil
	}
	return read(out, f.index), nil
}
