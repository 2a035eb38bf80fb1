package vaultfake

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// serveLogical answers a path under a secrets engine or an auth method: the mount's
// engine decides (kv, database, jwt); other engines store what is written, as kv v1.
func (f *Fake) serveLogical(req *request) answer {
	mountPath, m := f.mountOf(req.path)
	if m == nil {
		return noRoute(req.path)
	}
	rest := strings.TrimPrefix(req.path+"/", mountPath)
	rest = strings.TrimSuffix(rest, "/")
	switch m.Type {
	case "kv":
		if m.Options["version"] == "2" {
			return f.serveKV2(req, mountPath, rest)
		}
		return f.serveKV(req, m, mountPath, rest)
	case "database":
		return f.serveDatabase(req, m, mountPath, rest)
	case "jwt", "oidc":
		return f.serveJWT(req, mountPath, rest)
	case "cubbyhole", "identity", "token":
		return unsupportedPath
	}
	return f.serveKV(req, m, mountPath, rest)
}

// mountOf finds the mount a path is under ("kv/", "auth/jwt/"), by longest prefix.
func (f *Fake) mountOf(path string) (string, *mount) {
	table, prefix, p := f.mounts, "", path+"/"
	if a, isAuth := strings.CutPrefix(p, "auth/"); isAuth {
		table, prefix, p = f.auths, "auth/", a
	}
	best := ""
	for mp := range table {
		if strings.HasPrefix(p, mp) && len(mp) > len(best) {
			best = mp
		}
	}
	if best == "" {
		return "", nil
	}
	return prefix + best, table[best]
}

// list answers a LIST of dir: the names under it, a "/" after folders; 404 if none.
func (f *Fake) list(dir string) answer {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	seen := map[string]bool{}
	for p := range f.data {
		rest, found := strings.CutPrefix(p, prefix)
		if !found || rest == "" {
			continue
		}
		if i := strings.Index(rest, "/"); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	if len(seen) == 0 {
		return notFound
	}
	keys := slices.Sorted(maps.Keys(seen))
	sort.Strings(keys)
	return ok(secret(map[string]any{"keys": keys}))
}
