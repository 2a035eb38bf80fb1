package vaultfake

import (
	"net/http"
	"strings"
	"time"
)

// serveKV is kv version 1: what is written is read back as it was, with the mount's
// lease duration.
func (f *Fake) serveKV(req *request, m *mount, mountPath, rest string) answer {
	full := mountPath + rest
	switch req.op {
	case "read":
		d := f.data[full]
		if d == nil || rest == "" {
			return notFound
		}
		s := secret(d)
		ttl, _ := m.Config["default_lease_ttl"].(int64)
		if ttl == 0 {
			ttl = defaultLeaseTTL
		}
		s["lease_duration"] = ttl
		return ok(s)
	case "list":
		return f.list(full)
	case "update":
		if rest == "" {
			return unsupported
		}
		f.data[full] = req.body
		return noContent()
	case "delete":
		delete(f.data, full)
		return noContent()
	}
	return unsupported
}

// serveKV2 is kv version 2 (data/ and metadata/): a version counter, soft deletes
// (the data reads back as 404 with its metadata, as Vault answers), no history.
func (f *Fake) serveKV2(req *request, mountPath, rest string) answer {
	kind, p, _ := strings.Cut(rest, "/")
	store := mountPath + "data/" + p
	switch {
	case kind == "data" && p != "":
		switch req.op {
		case "read":
			d := f.data[store]
			if d == nil {
				return notFound
			}
			s := secret(map[string]any{"data": d["data"], "metadata": d["metadata"]})
			if d["data"] == nil {
				return answer{http.StatusNotFound, s}
			}
			return ok(s)
		case "update":
			data, okData := req.body["data"].(map[string]any)
			if !okData {
				return fail(http.StatusBadRequest, "no data provided")
			}
			version := int64(1)
			if old := f.data[store]; old != nil {
				v, _ := old["metadata"].(map[string]any)["version"].(int64)
				version = v + 1
			}
			meta := map[string]any{"created_time": now(), "custom_metadata": nil, "deletion_time": "", "destroyed": false, "version": version}
			f.data[store] = map[string]any{"data": data, "metadata": meta}
			return ok(secret(meta))
		case "delete":
			if d := f.data[store]; d != nil && d["data"] != nil {
				meta := cloneMap(d["metadata"].(map[string]any))
				meta["deletion_time"] = now()
				f.data[store] = map[string]any{"data": nil, "metadata": meta}
			}
			return noContent()
		}
	case kind == "metadata":
		switch req.op {
		case "list":
			return f.list(mountPath + "data/" + p)
		case "delete":
			delete(f.data, store)
			return noContent()
		}
	}
	return unsupported
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
