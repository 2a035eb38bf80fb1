package vaultfake

import "strings"

// The conformance table: every endpoint the fake serves, with the answers nvrun reads
// and the errors it explains. Run in order (see conformance_test.go).

// st is a step comparing the status and the given selectors.
func st(method, path, body string, same ...string) step {
	return step{method: method, path: path, body: body, same: same}
}

func (s step) as(token string) step         { s.token = token; return s }
func (s step) matching(sel, re string) step { s.like = merge(s.like, sel, re); return s }
func (s step) saving(name, sel string) step { s.save = merge(s.save, name, sel); return s }
func (s step) thenWaitActive() step         { s.waitActive = true; return s }
func merge(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

const (
	errs        = "errors"
	warnings    = "warnings"
	tokenRE     = `^hvs\.[A-Za-z0-9_-]{24,}$`
	accessorRE  = `^[A-Za-z0-9]{24}$`
	uuidRE      = `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
	secondsRE   = `^[0-9]+$`
	sealFields  = "initialized sealed t n progress type version storage_type migration recovery_seal"
	healthParts = "initialized sealed standby version"
)

func fields(prefix, names string) []string {
	var out []string
	for _, n := range strings.Fields(names) {
		out = append(out, prefix+n)
	}
	return out
}

var (
	sealStatus = st("GET", "sys/seal-status", "", fields("", sealFields)...).as("-")
	roleFields = "allowed_entity_aliases allowed_policies allowed_policies_glob disallowed_policies disallowed_policies_glob " +
		"explicit_max_ttl name orphan path_suffix period renewable token_explicit_max_ttl token_no_default_policy token_period token_type " +
		"token_bound_cidrs token_num_uses"
	lookupFields = "policies display_name path orphan meta type num_uses explicit_max_ttl entity_id period renewable creation_ttl"
	mountFields  = "type description local seal_wrap options config.default_lease_ttl config.max_lease_ttl config.force_no_cache config.token_type"
	authShape    = []string{"auth.policies", "auth.token_policies", "auth.metadata", "auth.lease_duration", "auth.renewable",
		"auth.orphan", "auth.token_type", "auth.entity_id", "auth.num_uses", "data", warnings}
)

var conformanceCases = []conformanceCase{
	{"uninitialised", []step{
		sealStatus,
		st("GET", "sys/health", "", fields("", healthParts)...).as("-"),
		st("GET", "sys/leader", "", "ha_enabled", "is_self", "leader_address").as("-"),
		st("GET", "sys/init", "", "initialized").as("-"),
		st("LIST", "sys/policies/acl", "", errs).as("-"),
		st("GET", "auth/token/lookup-self", "", errs).as("hvs.anything"),
		st("PUT", "sys/unseal", `{"key":"abc"}`, errs).as("-"),
		st("PUT", "sys/init", `{"secret_shares":1,"secret_threshold":2}`, errs).as("-"),
		st("PUT", "sys/init", `{"secret_shares":2,"secret_threshold":2}`, "#keys", "#keys_base64").as("-").
			matching("root_token", `^hvs\.[A-Za-z0-9]{24}$`).matching("keys.0", `^[0-9a-f]{66}$`).matching("keys_base64.1", `^[A-Za-z0-9+/]{44}$`).
			saving("root", "root_token").saving("key0", "keys.0").saving("key1", "keys_base64.1"),
		st("PUT", "sys/init", `{"secret_shares":1,"secret_threshold":1}`, errs).as("-"),
	}},
	{"sealed after init", []step{
		sealStatus,
		st("GET", "sys/health", "", fields("", healthParts)...).as("-"),
		st("GET", "sys/policies/acl/default", "", errs),
		st("GET", "auth/token/lookup-self", "", errs),
		st("PUT", "sys/unseal", `{"key":"not hex!"}`, errs).as("-"),
	}},
	{"unseal", []step{
		st("PUT", "sys/unseal", `{"key":"{{key0}}"}`, fields("", sealFields)...).as("-"),
		st("PUT", "sys/unseal", `{"key":"{{key1}}"}`, fields("", sealFields)...).as("-").matching("cluster_name", `^vault-cluster-[0-9a-f]{8}$`).matching("cluster_id", uuidRE).thenWaitActive(),
		sealStatus,
		st("GET", "sys/health", "", fields("", healthParts)...).as("-"),
		st("GET", "sys/leader", "", "ha_enabled", "is_self", "leader_address").as("-"),
	}},
	{"lookup-self", []step{
		st("GET", "auth/token/lookup-self", "", fields("data.", "policies display_name path orphan meta ttl type num_uses explicit_max_ttl expire_time creation_ttl entity_id")...).
			matching("data.id", tokenRE).matching("data.accessor", accessorRE),
		st("GET", "auth/token/lookup-self", "", errs).as("-"),
		st("GET", "sys/mounts", "", errs).as("-"),
		st("GET", "nope/x", "", errs).as("-"),
	}},
	{"policies", []step{
		st("LIST", "sys/policies/acl", "", "data.keys"),
		st("GET", "sys/policies/acl", "", errs),
		st("GET", "sys/policies/acl/default", "", "data.name", "rules(data.policy)"),
		st("GET", "sys/policies/acl/root", "", "data.name", "data.policy"),
		st("GET", "sys/policies/acl/absent", "", errs),
		st("PUT", "sys/policies/acl/Nomad-Server", `{"policy":"path \"auth/token/create/nomad-cluster\" {\n  capabilities = [\"update\"]\n}\n"}`, warnings),
		st("GET", "sys/policies/acl/nomad-server", "", "data"),
		st("GET", "sys/policies/acl/NOMAD-server", "", "data"),
		st("PUT", "sys/policies/acl/nomad-server", `{"policy":"path \"a/*\" { capabilities = [\"read\", \"list\"] }\npath \"b/+/c\" { policy = \"write\" }"}`, warnings),
		st("GET", "sys/policies/acl/nomad-server", "", "data", "rules(data.policy)"),
		st("LIST", "sys/policies/acl", "", "data.keys"),
		// A syntax error: Vault 1.14.1 is built with an older HCL 1 than nvrun, whose parser
		// words (and places) some syntax errors differently; the message's frame is the same.
		st("PUT", "sys/policies/acl/bad", `{"policy":"path \"a\" { capabilities = [\"read\" }"}`).
			matching("errors.0", `^failed to parse policy: At 1:3[0-9]: `),
		st("PUT", "sys/policies/acl/bad", `{"policy":"path \"a\" { capabilities = [\"reed\"] }"}`, errs),
		st("PUT", "sys/policies/acl/bad", `{"policy":"\n\npath \"a\" {capabilities=[\"read\"]}\n\npth \"a\" {}\nfoo = 1"}`, errs),
		st("PUT", "sys/policies/acl/bad", `{"policy":"path \"a\" {capabilities=[\"read\"]\n bad = 1}"}`, errs),
		st("PUT", "sys/policies/acl/bad", `{"policy":"path \"a\" {capabilities=\"read\"}"}`, errs),
		st("PUT", "sys/policies/acl/bad", `{"policy":""}`, errs),
		st("PUT", "sys/policies/acl/bad", `{}`, errs),
		st("GET", "sys/policies/acl/bad", "", errs),
		st("PUT", "sys/policies/acl/root", `{"policy":"path \"a\" { capabilities = [\"read\"] }"}`, errs),
		st("DELETE", "sys/policies/acl/root", "", errs),
		st("DELETE", "sys/policies/acl/default", "", errs),
		st("PUT", "sys/policies/acl/gone", `{"policy":"path \"a\" { capabilities = [\"read\"] }"}`),
		st("DELETE", "sys/policies/acl/gone", ""),
		st("DELETE", "sys/policies/acl/gone", ""),
		st("GET", "sys/policies/acl/gone", "", errs),
		st("GET", "sys/policy/nomad-server", "", "data.name", "data.rules"),
		st("GET", "sys/policy", "", "keys", "policies", "data.keys", "data.policies"),
		st("PUT", "sys/policy/old", `{"policy":"path \"old/*\" { capabilities = [\"read\"] }"}`),
		st("GET", "sys/policy/old", "", "data.name", "data.rules"),
		st("GET", "sys/policies/acl/old", "", "data.name", "data.policy"),
		st("DELETE", "sys/policy/old", ""),
		st("GET", "sys/policy/old", "", errs),
		st("PUT", "sys/policies/acl/badjson", `{"policy":`, errs),
		st("PATCH", "sys/policies/acl/nomad-server", `{}`, errs),
	}},
	{"token roles", []step{
		st("LIST", "auth/token/roles", "", errs, "data"),
		st("GET", "auth/token/roles/nomad-cluster", "", errs),
		st("GET", "auth/token/roles", "", errs),
		st("POST", "auth/token/roles/nomad-cluster", `{"allowed_policies":["Access-Tables"],"token_explicit_max_ttl":0,"orphan":true,"token_period":"72h","renewable":true}`),
		st("GET", "auth/token/roles/nomad-cluster", "", fields("data.", roleFields)...),
		st("LIST", "auth/token/roles", "", "data.keys"),
		st("POST", "auth/token/roles/legacy", `{"allowed_policies":"a, b,a","period":"1h","explicit_max_ttl":7200,"token_num_uses":3,"disallowed_policies":["X"],"token_type":"service","bound_cidrs":["127.0.0.1/32"]}`),
		st("GET", "auth/token/roles/legacy", "", fields("data.", roleFields)...),
		st("POST", "auth/token/roles/typo", `{"allowed_polices":["x"],"orphan":true}`, warnings),
		st("GET", "auth/token/roles/typo", "", fields("data.", roleFields)...),
		st("POST", "auth/token/roles/bad", `{"token_period":"abc"}`, errs),
		st("POST", "auth/token/roles/bad", `{"orphan":"maybe"}`, errs),
		st("GET", "auth/token/roles/bad", "", errs),
		st("DELETE", "auth/token/roles/typo", ""),
		st("DELETE", "auth/token/roles/typo", ""),
		st("GET", "auth/token/roles/typo", "", errs),
		st("LIST", "auth/token/roles", "", "data.keys"),
	}},
	{"tokens", []step{
		st("POST", "auth/token/create-orphan", `{"policies":["nomad-server"],"period":"259200s","renewable":true,"display_name":"nvrun-nomad-server","meta":{"nvrun":"1","nvrun_address":"vault token \"nomad-server\""}}`, authShape...).
			matching("auth.client_token", tokenRE).matching("auth.accessor", accessorRE).saving("server", "auth.client_token").saving("server_acc", "auth.accessor"),
		st("POST", "auth/token/lookup", `{"token":"{{server}}"}`, fields("data.", lookupFields)...).matching("data.ttl", secondsRE).matching("data.id", tokenRE),
		st("POST", "auth/token/lookup-accessor", `{"accessor":"{{server_acc}}"}`, append(fields("data.", lookupFields), "data.id")...),
		st("GET", "auth/token/lookup-self", "", fields("data.", lookupFields)...).as("{{server}}"),
		st("POST", "auth/token/create", `{"policies":["nomad-server","default"],"ttl":"60s","no_default_policy":true,"display_name":"Check"}`, authShape...).
			matching("auth.client_token", tokenRE).saving("child", "auth.client_token"),
		st("POST", "auth/token/lookup", `{"token":"{{child}}"}`, fields("data.", lookupFields)...),
		st("POST", "auth/token/create", `{"policies":["default"]}`, authShape...),
		st("POST", "auth/token/create/nomad-cluster", `{"policies":["access-tables"]}`, authShape...).saving("task", "auth.client_token"),
		st("POST", "auth/token/lookup", `{"token":"{{task}}"}`, fields("data.", lookupFields)...),
		st("POST", "auth/token/create/nomad-cluster", `{"policies":["other"]}`, errs),
		st("POST", "auth/token/create/absent", `{}`, errs),
		st("LIST", "auth/token/accessors", "", "#data.keys"),
		st("POST", "auth/token/lookup", `{"token":"hvs.nope"}`, errs),
		st("POST", "auth/token/lookup-accessor", `{"accessor":"nope"}`, errs),
		st("POST", "auth/token/lookup-accessor", `{}`, errs),
		st("POST", "auth/token/revoke-accessor", `{"accessor":"nope"}`, warnings),
		st("POST", "auth/token/revoke-accessor", `{}`, errs),
		st("POST", "auth/token/revoke-accessor", `{"accessor":"{{server_acc}}"}`),
		st("POST", "auth/token/lookup", `{"token":"{{server}}"}`, errs),
		st("POST", "auth/token/lookup-accessor", `{"accessor":"{{server_acc}}"}`, errs),
		st("GET", "auth/token/lookup-self", "", errs).as("{{server}}"),
		st("PUT", "auth/token/revoke", `{"token":"{{child}}"}`),
		st("PUT", "auth/token/revoke", `{"token":"hvs.nope"}`),
		st("PUT", "auth/token/revoke-orphan", `{"token":"hvs.nope"}`, errs),
		st("POST", "auth/token/lookup", `{"token":"{{child}}"}`, errs),
		st("POST", "auth/token/create-orphan", `{"policies":["default"],"ttl":"5m"}`).saving("self", "auth.client_token"),
		st("PUT", "auth/token/revoke-self", "").as("{{self}}"),
		st("GET", "auth/token/lookup-self", "", errs).as("{{self}}"),
		st("LIST", "auth/token/accessors", "", "#data.keys"),
	}},
	{"permission denied and capabilities", []step{
		st("PUT", "sys/policies/acl/limited", `{"policy":"path \"sys/policies/acl/limited\" { capabilities = [\"read\"] }\npath \"kv/*\" { capabilities = [\"read\", \"list\"] }\npath \"kv/secret\" { capabilities = [\"deny\"] }\npath \"sys/policies/acl/+\" { capabilities = [\"list\"] }"}`),
		st("POST", "auth/token/create-orphan", `{"policies":["limited"],"ttl":"1h"}`, authShape...).saving("limited", "auth.client_token"),
		st("GET", "sys/policies/acl/limited", "", "data.name").as("{{limited}}"),
		st("GET", "sys/policies/acl/default", "", errs).as("{{limited}}"),
		st("PUT", "sys/policies/acl/limited", `{"policy":"path \"x\" { capabilities = [\"read\"] }"}`, errs).as("{{limited}}"),
		st("GET", "sys/mounts", "", errs).as("{{limited}}"),
		st("POST", "auth/token/create", `{"policies":["root"]}`, errs).as("{{limited}}"),
		st("POST", "sys/capabilities-self", `{"paths":["kv/app","kv/secret","sys/policies/acl/limited","sys/policies/acl/other","auth/token/lookup-self","elsewhere"]}`,
			"data").as("{{limited}}"),
		st("POST", "sys/capabilities", `{"token":"{{limited}}","paths":["kv/x/y"]}`, "data", "capabilities"),
		st("POST", "sys/capabilities", `{"token":"{{limited}}","path":"kv/secret"}`, "data", "capabilities"),
		st("POST", "sys/capabilities-self", `{"path":"anything"}`, "data", "capabilities"),
		st("GET", "sys/capabilities", "", errs),
		st("GET", "sys/nope", "", errs),
		st("GET", "auth/token/nope", "", errs),
	}},
	{"secrets engines", []step{
		st("GET", "sys/mounts", "", append(fields("data.cubbyhole/.", mountFields), append(fields("data.sys/.", mountFields), "keys(data)")...)...).
			matching("data.cubbyhole/.accessor", `^cubbyhole_[0-9a-f]{8}$`),
		st("POST", "sys/mounts/database", `{"type":"database"}`),
		st("POST", "sys/mounts/database", `{"type":"database"}`, errs),
		st("POST", "sys/mounts/database/sub", `{"type":"kv"}`, errs),
		st("POST", "sys/mounts/sys", `{"type":"kv"}`, errs),
		st("POST", "sys/mounts/x", `{"type":"nope"}`, errs),
		st("POST", "sys/mounts/kv2", `{"type":"kv","options":{"version":"2"},"description":"d","config":{"default_lease_ttl":"1h"}}`),
		st("POST", "sys/mounts/k3", `{"type":"kv-v2","local":true,"seal_wrap":true}`),
		st("POST", "sys/mounts/kv", `{"type":"kv"}`),
		st("GET", "sys/mounts", "", append(append(fields("data.database/.", mountFields), fields("data.kv2/.", mountFields)...),
			append(fields("data.k3/.", mountFields), append(fields("data.kv/.", mountFields), "keys(data)")...)...)...).
			matching("data.database/.accessor", `^database_[0-9a-f]{8}$`).matching("data.kv2/.uuid", uuidRE),
		st("GET", "sys/mounts/database", "", fields("data.", mountFields)...),
		st("GET", "sys/mounts/nope", "", errs),
		st("POST", "sys/mounts/kv2/tune", `{"description":"e","max_lease_ttl":"48h","default_lease_ttl":7200}`),
		st("GET", "sys/mounts/kv2/tune", "", "data"),
		st("GET", "sys/mounts", "", fields("data.kv2/.", mountFields)...),
		st("POST", "sys/mounts/kv2/tune", `{"default_lease_ttl":"bad"}`, errs),
		st("POST", "sys/mounts/nope/tune", `{"description":"x"}`, errs),
		st("POST", "sys/mounts/k3", `{"type":"kv"}`, errs),
		st("DELETE", "sys/mounts/k3", ""),
		st("DELETE", "sys/mounts/k3", ""),
		st("GET", "sys/mounts", "", "keys(data)"),
	}},
	{"auth methods", []step{
		st("GET", "sys/auth", "", append(fields("data.token/.", mountFields), "keys(data)")...).matching("data.token/.accessor", `^auth_token_[0-9a-f]{8}$`),
		st("POST", "sys/auth/jwt-nomad", `{"type":"jwt","description":"Nomad workload identities"}`),
		st("POST", "sys/auth/jwt-nomad", `{"type":"jwt"}`, errs),
		st("POST", "sys/auth/token", `{"type":"jwt"}`, errs),
		st("POST", "sys/auth/x", `{"type":"nope"}`, errs),
		st("POST", "sys/auth/ap", `{"type":"approle"}`),
		st("GET", "sys/auth", "", append(append(fields("data.jwt-nomad/.", mountFields), fields("data.ap/.", mountFields)...), "keys(data)")...).
			matching("data.jwt-nomad/.accessor", `^auth_jwt_[0-9a-f]{8}$`),
		st("POST", "sys/mounts/auth/jwt-nomad/tune", `{"description":"f","default_lease_ttl":"1h"}`),
		st("POST", "sys/mounts/auth/nope/tune", `{"description":"x"}`, errs),
		st("GET", "sys/auth", "", fields("data.jwt-nomad/.", mountFields)...),
		st("GET", "sys/auth/jwt-nomad/tune", "", "data"),
		st("POST", "sys/auth/jwt-nomad/tune", `{"max_lease_ttl":"2h"}`),
		st("GET", "sys/mounts/auth/jwt-nomad/tune", "", "data"),
		st("GET", "sys/auth/nope/tune", "", errs),
		st("DELETE", "sys/auth/ap", ""),
		st("DELETE", "sys/auth/ap", ""),
		st("GET", "sys/auth", "", "keys(data)"),
	}},
	{"kv", []step{
		st("POST", "kv/app/db", `{"user":"u","n":3,"list":["a"],"nested":{"x":true}}`),
		st("GET", "kv/app/db", "", "data", "lease_duration", "lease_id", "renewable"),
		st("LIST", "kv/app", "", "data.keys"),
		st("LIST", "kv/", "", "data.keys"),
		st("LIST", "kv/none", "", errs),
		st("GET", "kv/none", "", errs),
		st("POST", "kv/app/db", `{"user":"v"}`),
		st("GET", "kv/app/db", "", "data"),
		st("DELETE", "kv/app/db", ""),
		st("GET", "kv/app/db", "", errs),
		st("POST", "kv2/data/app", `{"data":{"a":"b"}}`, "data.version", "data.destroyed", "data.deletion_time"),
		st("POST", "kv2/data/app", `{"data":{"a":"c"}}`, "data.version"),
		st("GET", "kv2/data/app", "", "data.data", "data.metadata.version"),
		st("GET", "kv2/data/none", "", errs),
		st("LIST", "kv2/metadata/", "", "data.keys"),
		st("DELETE", "kv2/data/app", ""),
		st("GET", "kv2/data/app", "", "data.data", "data.metadata.version", "data.metadata.destroyed").matching("data.metadata.deletion_time", `^20[0-9-]+T[0-9:.]+Z$`),
		st("LIST", "kv2/metadata/", "", "data.keys"),
		st("POST", "kv2/data/app", `{"data":{"a":"d"}}`, "data.version"),
		st("GET", "kv2/data/app", "", "data.data", "data.metadata.version", "data.metadata.deletion_time"),
		st("POST", "kv2/data/app", `{"a":"no data wrapper"}`, errs),
		st("DELETE", "kv2/metadata/app", ""),
		st("GET", "kv2/data/app", "", errs),
		st("LIST", "kv2/metadata/", "", errs),
		st("GET", "nope/x", "", errs),
		st("POST", "nope/x", `{"a":1}`, errs),
		st("GET", "auth/nope/config", "", errs),
	}},
	{"database", []step{
		st("GET", "database/config/postgresql", "", errs),
		st("POST", "database/config/postgresql", `{"plugin_name":"postgresql-database-plugin","allowed_roles":"accessdb","connection_url":"{{pg_url}}","username":"{{pg_user}}","password":"{{pg_password}}"}`),
		st("GET", "database/config/postgresql", "", "data"),
		st("LIST", "database/config", "", "data.keys"),
		st("GET", "database/roles/accessdb", "", errs),
		st("POST", "database/roles/accessdb", `{"db_name":"postgresql","creation_statements":"CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT ALL ON SCHEMA public TO \"{{name}}\";","revocation_statements":"REVOKE ALL ON SCHEMA public FROM \"{{name}}\"; DROP ROLE IF EXISTS \"{{name}}\";","default_ttl":"1h","max_ttl":"24h"}`),
		st("GET", "database/roles/accessdb", "", "data"),
		st("LIST", "database/roles", "", "data.keys"),
		st("GET", "database/creds/accessdb", "", "lease_duration", "renewable", "keys(data)").
			matching("lease_id", `^database/creds/accessdb/[A-Za-z0-9]{24}$`).matching("data.username", `^v-root-accessdb-[A-Za-z0-9]{20}-[0-9]{10}$`).matching("data.password", `^[A-Za-z0-9-]{20}$`).
			saving("lease", "lease_id"),
		st("GET", "database/creds/absent", "", errs),
		st("PUT", "sys/leases/lookup", `{"lease_id":"{{lease}}"}`, "data.renewable", "data.last_renewal").matching("data.ttl", secondsRE).
			matching("data.id", `^database/creds/accessdb/[A-Za-z0-9]{24}$`).matching("data.issue_time", `^20[0-9-]+T[0-9:.]+Z$`).matching("data.expire_time", `^20[0-9-]+T[0-9:.]+Z$`),
		st("PUT", "sys/leases/revoke", `{"lease_id":"{{lease}}"}`),
		st("PUT", "sys/leases/lookup", `{"lease_id":"{{lease}}"}`, errs),
		st("PUT", "sys/leases/revoke", `{"lease_id":""}`, errs),
		st("GET", "database/creds/accessdb", "", "lease_duration"),
		st("PUT", "sys/leases/revoke-prefix/database/creds/accessdb", ""),
		st("GET", "database/creds/accessdb", "", "lease_duration").saving("lease2", "lease_id"),
		st("PUT", "sys/revoke/{{lease2}}", ""),
		st("PUT", "sys/revoke-prefix/database/creds", ""),
		st("GET", "sys/mounts/database", "", "data.type"),
		st("DELETE", "database/roles/absent", ""),
		st("DELETE", "database/roles/accessdb", ""),
		st("GET", "database/roles/accessdb", "", errs),
		st("POST", "database/config/other", `{"plugin_name":"postgresql-database-plugin","connection_url":"{{pg_url}}","username":"{{pg_user}}","password":"{{pg_password}}"}`),
		st("GET", "database/config/other", "", "data"),
		st("DELETE", "database/config/other", ""),
		st("GET", "database/config/other", "", errs),
		st("POST", "database/config/bad", `{"connection_url":"x"}`, errs),
		st("POST", "database/roles/bad", `{"creation_statements":"x"}`, errs),
	}},
	{"jwt auth method", []step{
		st("GET", "auth/jwt-nomad/config", "", errs),
		st("GET", "auth/jwt-nomad/role/nomad-workloads", "", errs),
		st("LIST", "auth/jwt-nomad/role", "", errs),
		st("POST", "auth/jwt-nomad/config", `{"jwt_supported_algs":["RS256"]}`, errs),
		st("POST", "auth/jwt-nomad/config", `{"jwks_url":"{{jwks_url}}","jwt_supported_algs":["RS256","EdDSA"],"default_role":"nomad-workloads"}`),
		st("GET", "auth/jwt-nomad/config", "", "data"),
		st("POST", "auth/jwt-nomad/config", `{"jwks_url":"{{jwks_url}}","jwt_supported_algs":"RS256,EdDSA"}`),
		st("GET", "auth/jwt-nomad/config", "", "data"),
		st("DELETE", "auth/jwt-nomad/config", "", errs),
		st("POST", "auth/jwt-nomad/role/nomad-workloads", `{"role_type":"jwt","bound_audiences":["vault.io"],"user_claim":"/nomad_job_id","user_claim_json_pointer":true,"claim_mappings":{"nomad_namespace":"nomad_namespace","nomad_job_id":"nomad_job_id"},"token_type":"service","token_policies":["nomad-workloads","access-tables"],"token_period":"30m","token_explicit_max_ttl":0}`),
		st("GET", "auth/jwt-nomad/role/nomad-workloads", "", "data"),
		st("LIST", "auth/jwt-nomad/role", "", "data.keys"),
		st("POST", "auth/jwt-nomad/role/bad", `{"role_type":"jwt"}`, errs),
		st("POST", "auth/jwt-nomad/role/bad", `{"role_type":"jwt","user_claim":"sub"}`, errs),
		st("DELETE", "auth/jwt-nomad/role/nomad-workloads", ""),
		st("DELETE", "auth/jwt-nomad/role/nomad-workloads", ""),
		st("GET", "auth/jwt-nomad/role/nomad-workloads", "", errs),
	}},
	{"sudo", []step{
		st("PUT", "sys/policies/acl/broad", `{"policy":"path \"sys/*\" { capabilities = [\"create\",\"read\",\"update\",\"delete\",\"list\"] }\npath \"auth/*\" { capabilities = [\"create\",\"read\",\"update\",\"delete\",\"list\"] }\npath \"kv/*\" { capabilities = [\"create\",\"read\",\"update\",\"delete\",\"list\"] }"}`),
		st("POST", "auth/token/create-orphan", `{"policies":["broad"],"ttl":"10m"}`).saving("broad", "auth.client_token"),
		st("GET", "sys/auth", "", "keys(data)").as("{{broad}}"),
		st("POST", "sys/auth/sudo-test", `{"type":"approle"}`, errs).as("{{broad}}"),
		st("DELETE", "sys/auth/jwt-nomad", "", errs).as("{{broad}}"),
		st("POST", "sys/mounts/auth/jwt-nomad/tune", `{"description":"Nomad workload identities"}`).as("{{broad}}"),
		st("POST", "sys/mounts/sudo-test", `{"type":"kv"}`).as("{{broad}}"),
		st("POST", "sys/mounts/sudo-test/tune", `{"description":"a"}`).as("{{broad}}"),
		st("DELETE", "sys/mounts/sudo-test", "").as("{{broad}}"),
		st("PUT", "sys/leases/revoke-prefix/database/creds/x", "", errs).as("{{broad}}"),
		st("PUT", "sys/leases/revoke", `{"lease_id":"database/creds/x/y"}`).as("{{broad}}"),
		st("PUT", "sys/policies/acl/sudo-test", `{"policy":"path \"a\" {capabilities=[\"read\"]}"}`).as("{{broad}}"),
		st("DELETE", "sys/policies/acl/sudo-test", "").as("{{broad}}"),
		st("POST", "auth/token/roles/sudo-test", `{}`).as("{{broad}}"),
		st("DELETE", "auth/token/roles/sudo-test", "").as("{{broad}}"),
		st("LIST", "auth/token/accessors", "", errs).as("{{broad}}"),
		st("POST", "auth/token/revoke-accessor", `{"accessor":"x"}`, warnings).as("{{broad}}"),
		st("PUT", "sys/seal", "", errs).as("{{broad}}"),
		st("POST", "sys/capabilities", `{"token":"hvs.nope","paths":["a"]}`, errs),
		st("POST", "kv/app/sudo", `{"a":"b"}`).as("{{broad}}"),
		st("GET", "kv/app/sudo", "", "data").as("{{broad}}"),
	}},
	{"acl priority", []step{
		st("PUT", "sys/policies/acl/prio", `{"policy":"path \"secret/*\" { capabilities = [\"read\"] }\npath \"secret/foo\" { capabilities = [\"list\"] }\npath \"secret/+/bar\" { capabilities = [\"update\"] }\npath \"secret/a/*\" { capabilities = [\"create\"] }\npath \"secret/a/b*\" { capabilities = [\"delete\"] }\npath \"+/x/*\" { capabilities = [\"sudo\"] }\npath \"secret/+/+/baz\" { capabilities = [\"patch\"] }\npath \"secret/deny/*\" { capabilities = [\"deny\", \"read\"] }"}`),
		st("PUT", "sys/policies/acl/prio2", `{"policy":"path \"secret/*\" { capabilities = [\"list\"] }\npath \"secret/foo\" { capabilities = [\"update\"] }"}`),
		st("POST", "auth/token/create-orphan", `{"policies":["prio","prio2"],"ttl":"10m"}`).saving("prio", "auth.client_token"),
		st("POST", "sys/capabilities-self", `{"paths":["secret/foo","secret/foo/x","secret/q/bar","secret/a/bar","secret/a/b","secret/a/bc/d","secret/x/y","s/x/y","secret/a/q/baz","secret/deny/x","secret/deny","secret","other"]}`, "data").as("{{prio}}"),
	}},
	{"create and update capabilities", []step{
		st("PUT", "sys/policies/acl/createonly", `{"policy":"path \"sys/*\" { capabilities = [\"create\"] }\npath \"auth/*\" { capabilities = [\"create\"] }\npath \"kv/*\" { capabilities = [\"create\"] }\npath \"kv2/*\" { capabilities = [\"create\"] }\npath \"database/*\" { capabilities = [\"create\"] }"}`),
		st("PUT", "sys/policies/acl/updateonly", `{"policy":"path \"sys/*\" { capabilities = [\"update\"] }\npath \"auth/*\" { capabilities = [\"update\"] }\npath \"kv/*\" { capabilities = [\"update\"] }\npath \"kv2/*\" { capabilities = [\"update\"] }\npath \"database/*\" { capabilities = [\"update\"] }"}`),
		st("POST", "auth/token/create-orphan", `{"policies":["createonly"],"ttl":"10m"}`).saving("c", "auth.client_token"),
		st("POST", "auth/token/create-orphan", `{"policies":["updateonly"],"ttl":"10m"}`).saving("u", "auth.client_token"),
		// absent, then present
		st("PUT", "sys/policies/acl/cu", `{"policy":"path \"a\" {capabilities=[\"read\"]}"}`, errs).as("{{c}}"),
		st("PUT", "sys/policies/acl/cu", `{"policy":"path \"a\" {capabilities=[\"read\"]}"}`).as("{{u}}"),
		st("PUT", "sys/policies/acl/cu", `{"policy":"path \"b\" {capabilities=[\"read\"]}"}`).as("{{u}}"),
		st("POST", "kv/cu", `{"a":1}`, errs).as("{{u}}"),
		st("POST", "kv/cu", `{"a":1}`).as("{{c}}"),
		st("POST", "kv/cu", `{"a":2}`, errs).as("{{c}}"),
		st("POST", "kv/cu", `{"a":2}`).as("{{u}}"),
		st("POST", "kv2/data/cu", `{"data":{"a":1}}`, errs, "data.version").as("{{u}}"),
		st("POST", "kv2/data/cu", `{"data":{"a":1}}`, "data.version").as("{{c}}"),
		st("POST", "kv2/data/cu", `{"data":{"a":2}}`, errs, "data.version").as("{{c}}"),
		st("POST", "kv2/data/cu", `{"data":{"a":2}}`, "data.version").as("{{u}}"),
		st("POST", "auth/token/roles/cu", `{}`, errs).as("{{u}}"),
		st("POST", "auth/token/roles/cu", `{}`).as("{{c}}"),
		st("POST", "auth/token/roles/cu", `{"orphan":true}`, errs).as("{{c}}"),
		st("POST", "auth/token/roles/cu", `{"orphan":true}`).as("{{u}}"),
		st("POST", "database/roles/cu", `{"db_name":"postgresql","creation_statements":"SELECT 1;"}`, errs).as("{{u}}"),
		st("POST", "database/roles/cu", `{"db_name":"postgresql","creation_statements":"SELECT 1;"}`).as("{{c}}"),
		st("POST", "database/roles/cu", `{"db_name":"postgresql","creation_statements":"SELECT 2;"}`, errs).as("{{c}}"),
		st("POST", "database/roles/cu", `{"db_name":"postgresql","creation_statements":"SELECT 2;"}`).as("{{u}}"),
		st("POST", "database/config/cu", `{"plugin_name":"postgresql-database-plugin","allowed_roles":"cu","connection_url":"{{pg_url}}","username":"{{pg_user}}","password":"{{pg_password}}"}`, errs).as("{{u}}"),
		st("POST", "database/config/cu", `{"plugin_name":"postgresql-database-plugin","allowed_roles":"cu","connection_url":"{{pg_url}}","username":"{{pg_user}}","password":"{{pg_password}}"}`).as("{{c}}"),
		st("POST", "database/config/cu", `{"plugin_name":"postgresql-database-plugin","allowed_roles":"cu","connection_url":"{{pg_url}}","username":"{{pg_user}}","password":"{{pg_password}}"}`, errs).as("{{c}}"),
		st("POST", "database/config/cu", `{"plugin_name":"postgresql-database-plugin","allowed_roles":"cu","connection_url":"{{pg_url}}","username":"{{pg_user}}","password":"{{pg_password}}"}`).as("{{u}}"),
		st("POST", "auth/jwt-nomad/role/cu", `{"role_type":"jwt","user_claim":"sub","bound_audiences":"a"}`, errs).as("{{u}}"),
		st("POST", "auth/jwt-nomad/role/cu", `{"role_type":"jwt","user_claim":"sub","bound_audiences":"a"}`).as("{{c}}"),
		st("POST", "auth/jwt-nomad/role/cu", `{"role_type":"jwt","user_claim":"sub","bound_audiences":"b"}`, errs).as("{{c}}"),
		st("POST", "auth/jwt-nomad/role/cu", `{"role_type":"jwt","user_claim":"sub","bound_audiences":"b"}`).as("{{u}}"),
		st("POST", "auth/jwt-nomad/config", `{"jwks_url":"{{jwks_url}}"}`, errs).as("{{c}}"),
		st("POST", "auth/jwt-nomad/config", `{"jwks_url":"{{jwks_url}}"}`).as("{{u}}"),
		st("POST", "sys/mounts/cu", `{"type":"kv"}`, errs).as("{{c}}"),
		st("POST", "sys/mounts/cu", `{"type":"kv"}`).as("{{u}}"),
		st("POST", "sys/mounts/cu/tune", `{"description":"x"}`, errs).as("{{c}}"),
		st("POST", "auth/token/create", `{"policies":["default"]}`, errs).as("{{c}}"),
	}},
	{"sealed again", []step{
		st("PUT", "sys/seal", ""),
		sealStatus,
		st("PUT", "sys/unseal", `{"key":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00"}`, append(fields("", sealFields), errs)...).as("-"),
		st("PUT", "sys/unseal", `{"key":"{{key0}}"}`, append(fields("", sealFields), errs)...).as("-"),
		st("PUT", "sys/unseal", `{"reset":true}`, fields("", sealFields)...).as("-"),
		st("GET", "sys/health", "", fields("", healthParts)...).as("-"),
		st("GET", "sys/policies/acl/default", "", errs),
		st("LIST", "auth/token/accessors", "", errs),
		st("PUT", "sys/unseal", `{"key":"{{key0}}"}`, fields("", sealFields)...).as("-"),
		st("PUT", "sys/unseal", `{"key":"{{key1}}"}`, fields("", sealFields)...).as("-").thenWaitActive(),
		st("GET", "sys/policies/acl/nomad-server", "", "data.name"),
	}},
}
