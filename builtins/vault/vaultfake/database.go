package vaultfake

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveDatabase is the database secrets engine: connection configs and roles are read
// back in Vault's shape (the password is write-only), and creds/<role> makes up a
// username and password with a lease. The fake never connects to a database.
func (f *Fake) serveDatabase(req *request, m *mount, mountPath, rest string) answer {
	kind, name, _ := strings.Cut(rest, "/")
	store := mountPath + kind + "/" + name
	switch kind {
	case "config", "roles":
		if name == "" {
			if req.op == "list" {
				return f.list(mountPath + kind)
			}
			return unsupported
		}
		switch req.op {
		case "read":
			d := f.data[store]
			if d == nil {
				return notFound
			}
			return ok(secret(d))
		case "update":
			var d map[string]any
			var err error
			if kind == "config" {
				d, err = dbConfig(req.body)
			} else {
				d, err = dbRole(req.body)
			}
			if err != nil {
				return fail(http.StatusBadRequest, err.Error())
			}
			f.data[store] = d
			return noContent()
		case "delete":
			delete(f.data, store)
			return noContent()
		}
	case "creds":
		if req.op != "read" || name == "" {
			return unsupported
		}
		role := f.data[mountPath+"roles/"+name]
		if role == nil {
			return fail(http.StatusBadRequest, "unknown role: "+name)
		}
		ttl, _ := role["default_ttl"].(int64)
		if ttl == 0 {
			if ttl, _ = m.Config["default_lease_ttl"].(int64); ttl == 0 {
				ttl = defaultLeaseTTL
			}
		}
		id := mountPath + "creds/" + name + "/" + f.base62ID(24)
		f.leases[id] = &lease{issued: time.Now(), ttl: ttl}
		// Vault's default username template: v-<display name>-<role>-<random>-<unix time>.
		user := fmt.Sprintf("v-%s-%s-%s-%d", truncate(req.tok.DisplayName, 8), truncate(name, 8), f.base62ID(20), time.Now().Unix())
		s := secret(map[string]any{"username": user, "password": f.base62ID(20)})
		s["lease_id"], s["lease_duration"], s["renewable"] = id, ttl, true
		return ok(s)
	}
	return unsupportedPath
}

func dbConfig(body map[string]any) (map[string]any, error) {
	plugin, _ := body["plugin_name"].(string)
	if plugin == "" {
		return nil, fmt.Errorf("empty plugin name")
	}
	details := map[string]any{}
	for k, v := range body {
		switch k {
		case "plugin_name", "allowed_roles", "password", "verify_connection", "plugin_version",
			"root_rotation_statements", "password_policy", "private_key":
		default:
			details[k] = v
		}
	}
	policy, _ := body["password_policy"].(string)
	version, _ := body["plugin_version"].(string)
	return map[string]any{
		"allowed_roles": stringList(body["allowed_roles"]), "connection_details": details,
		"password_policy": policy, "plugin_name": plugin, "plugin_version": version,
		"root_credentials_rotate_statements": stringList(body["root_rotation_statements"]),
	}, nil
}

func dbRole(body map[string]any) (map[string]any, error) {
	db, _ := body["db_name"].(string)
	if db == "" {
		return nil, fmt.Errorf("database name is required")
	}
	role := map[string]any{"credential_type": "password", "db_name": db}
	for _, k := range []string{"creation_statements", "renew_statements", "revocation_statements", "rollback_statements"} {
		role[k] = statements(body[k])
	}
	for _, k := range []string{"default_ttl", "max_ttl"} {
		d, err := durationField(k, body[k])
		if err != nil {
			return nil, err
		}
		role[k] = d
	}
	if len(role["creation_statements"].([]string)) == 0 {
		return nil, fmt.Errorf("creation statements are required")
	}
	return role, nil
}

// statements is TypeStringSlice: a list, or one string (a JSON list in a string is
// decoded; otherwise the string is one statement, semicolons and all).
func statements(x any) []string {
	switch v := x.(type) {
	case string:
		if v == "" {
			return []string{}
		}
		return []string{v}
	case []any:
		return stringList(v)
	}
	return []string{}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
