package vaultfake

import (
	"net/http"
	"strings"
)

// serveJWT is the jwt (and oidc) auth method's config and roles. The fake does not
// fetch jwks_url (nvrun test opens no sockets): any URL is accepted.
func (f *Fake) serveJWT(req *request, mountPath, rest string) answer {
	kind, name, _ := strings.Cut(rest, "/")
	switch {
	case kind == "config" && name == "":
		switch req.op {
		case "read":
			d := f.data[mountPath+"config"]
			if d == nil {
				return notFound
			}
			return ok(secret(d))
		case "update":
			d, err := jwtConfig(req.body)
			if err != nil {
				return fail(http.StatusBadRequest, err.Error())
			}
			f.data[mountPath+"config"] = d
			return noContent()
		}
		return unsupported
	case kind == "role" && name == "":
		if req.op == "list" {
			return f.list(mountPath + "role")
		}
		return unsupported
	case kind == "role":
		store := mountPath + "role/" + strings.ToLower(name)
		switch req.op {
		case "read":
			d := f.data[store]
			if d == nil {
				return notFound
			}
			return ok(secret(d))
		case "update":
			d, err := jwtRole(f.data[store], req.body)
			if err != nil {
				return fail(http.StatusBadRequest, err.Error())
			}
			f.data[store] = d
			return noContent()
		case "delete":
			delete(f.data, store)
			return noContent()
		}
		return unsupported
	case kind == "login":
		return fail(http.StatusBadRequest, "vaultfake: jwt login is not supported")
	}
	return unsupportedPath
}

func str(x any) string { s, _ := x.(string); return s }

// jwtConfig is a config write, read back as Vault does: a write replaces it all.
func jwtConfig(b map[string]any) (map[string]any, error) {
	set := 0
	for _, k := range []string{"jwt_validation_pubkeys", "jwks_url", "oidc_discovery_url"} {
		if v, ok := b[k]; ok && v != "" && len(stringList(v)) > 0 {
			set++
		}
	}
	if set != 1 {
		return nil, errString("exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set")
	}
	provider, _ := b["provider_config"].(map[string]any)
	if provider == nil {
		provider = map[string]any{}
	}
	ns := true
	if v, ok := b["namespace_in_state"]; ok {
		ns, _ = boolField("namespace_in_state", v)
	}
	return map[string]any{
		"bound_issuer": str(b["bound_issuer"]), "default_role": str(b["default_role"]), "jwks_ca_pem": str(b["jwks_ca_pem"]),
		"jwks_url": str(b["jwks_url"]), "jwt_supported_algs": stringList(b["jwt_supported_algs"]),
		"jwt_validation_pubkeys": stringList(b["jwt_validation_pubkeys"]), "namespace_in_state": ns,
		"oidc_client_id": str(b["oidc_client_id"]), "oidc_discovery_ca_pem": str(b["oidc_discovery_ca_pem"]),
		"oidc_discovery_url": str(b["oidc_discovery_url"]), "oidc_response_mode": str(b["oidc_response_mode"]),
		"oidc_response_types": stringList(b["oidc_response_types"]), "provider_config": provider,
	}, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// jwtRole applies a role write onto the role (or a new one), as Vault reads it back.
func jwtRole(old, b map[string]any) (map[string]any, error) {
	r := old
	if r == nil {
		r = map[string]any{
			"allowed_redirect_uris": nil, "bound_audiences": nil, "bound_claims": nil, "bound_claims_type": "string",
			"bound_subject": "", "claim_mappings": nil, "clock_skew_leeway": int64(0), "expiration_leeway": int64(0),
			"groups_claim": "", "max_age": int64(0), "not_before_leeway": int64(0), "oidc_scopes": nil, "role_type": "oidc",
			"token_bound_cidrs": []string{}, "token_explicit_max_ttl": int64(0), "token_max_ttl": int64(0),
			"token_no_default_policy": false, "token_num_uses": int64(0), "token_period": int64(0), "token_policies": []string{},
			"token_ttl": int64(0), "token_type": "default", "user_claim": "", "user_claim_json_pointer": false, "verbose_oidc_logging": false,
		}
	} else {
		r = cloneMap(r)
	}
	for k, v := range b {
		switch k {
		case "bound_audiences", "allowed_redirect_uris", "oidc_scopes", "token_bound_cidrs":
			r[k] = stringList(v)
		case "token_policies", "policies":
			r["token_policies"] = stringList(v)
		case "claim_mappings", "bound_claims":
			r[k] = v
		case "user_claim_json_pointer", "token_no_default_policy", "verbose_oidc_logging":
			bv, err := boolField(k, v)
			if err != nil {
				return nil, err
			}
			r[k] = bv
		case "token_period", "token_ttl", "token_max_ttl", "token_explicit_max_ttl", "clock_skew_leeway",
			"expiration_leeway", "not_before_leeway", "max_age", "period", "ttl", "max_ttl":
			d, err := durationField(k, v)
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(k, "token_") && (k == "period" || k == "ttl" || k == "max_ttl") {
				k = "token_" + k
			}
			r[k] = d
		case "token_num_uses":
			n, _ := intField(v)
			r[k] = n
		case "role_type", "user_claim", "groups_claim", "bound_subject", "bound_claims_type", "token_type":
			r[k] = str(v)
		}
	}
	if r["user_claim"] == "" {
		return nil, errString("a user claim must be defined on the role")
	}
	if r["role_type"] == "jwt" && len(stringList(r["bound_audiences"])) == 0 && r["bound_subject"] == "" && r["bound_claims"] == nil {
		return nil, errString("must have at least one bound constraint when creating/updating a role")
	}
	return r, nil
}
