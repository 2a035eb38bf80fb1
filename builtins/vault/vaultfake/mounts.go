package vaultfake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultLeaseTTL is Vault's system default (and maximum) lease TTL: 768h.
const defaultLeaseTTL = 2764800

// mount is a secrets engine or an auth method as sys/mounts and sys/auth list it.
type mount struct {
	Accessor          string            `json:"accessor"`
	Config            map[string]any    `json:"config"`
	DeprecationStatus string            `json:"deprecation_status,omitempty"`
	Description       string            `json:"description"`
	ExternalEntropy   bool              `json:"external_entropy_access"`
	Local             bool              `json:"local"`
	Options           map[string]string `json:"options"`
	PluginVersion     string            `json:"plugin_version"`
	RunningVersion    string            `json:"running_plugin_version"`
	RunningSHA256     string            `json:"running_sha256"`
	SealWrap          bool              `json:"seal_wrap"`
	Type              string            `json:"type"`
	UUID              string            `json:"uuid"`
}

// knownEngines are the plugin types the fake mounts (Vault's catalog has more; a type
// not here answers as one Vault does not know). The value is the running version.
var knownEngines = map[string]string{
	"kv": "v0.15.0+builtin", "database": "v1.14.1+builtin.vault", "transit": "v1.14.1+builtin.vault",
	"pki": "v1.14.1+builtin.vault", "ssh": "v1.14.1+builtin.vault", "totp": "v1.14.1+builtin.vault",
	"nomad": "v0.15.0+builtin", "consul": "v1.14.1+builtin.vault", "aws": "v1.14.1+builtin.vault",
}

var knownAuths = map[string]string{
	"jwt": "v0.16.0+builtin", "oidc": "v0.16.0+builtin", "approle": "v1.14.1+builtin.vault",
	"userpass": "v1.14.1+builtin.vault", "kubernetes": "v0.16.0+builtin", "cert": "v1.14.1+builtin.vault",
}

func (f *Fake) newMount(typ, description string, options map[string]string) *mount {
	m := &mount{
		Type: typ, Description: description, Options: options, UUID: f.uuid(),
		Accessor: typ + "_" + f.hexID(4), RunningVersion: "v1.14.1+builtin.vault",
		Config: map[string]any{"default_lease_ttl": int64(0), "force_no_cache": false, "max_lease_ttl": int64(0)},
	}
	if v, ok := knownEngines[typ]; ok {
		m.RunningVersion = v
	}
	if typ != "database" && (knownEngines[typ] != "" || knownAuths[typ] != "") {
		m.DeprecationStatus = "supported"
	}
	switch typ {
	case "system":
		m.Config["passthrough_request_headers"] = []string{"Accept"}
	case "identity":
		m.Config["passthrough_request_headers"] = []string{"Authorization"}
	}
	return m
}

// serveMounts answers sys/mounts[/<path>[/tune]].
func (f *Fake) serveMounts(req *request, rest string) answer {
	if rest == "" {
		if req.op != "read" {
			return unsupported
		}
		return ok(listing(f.mounts))
	}
	if p, tune := strings.CutSuffix(rest, "/tune"); tune {
		table, path := f.mounts, p
		if a, isAuth := strings.CutPrefix(p, "auth/"); isAuth {
			table, path = f.auths, a
		}
		return f.serveTune(req, table, p, path)
	}
	path := rest + "/"
	switch req.op {
	case "read":
		m := f.mounts[path]
		if m == nil {
			return fail(http.StatusBadRequest, "No secret engine mount at "+path)
		}
		s := secret(m)
		return ok(s)
	case "update":
		return f.enable(req, f.mounts, rest, knownEngines, "")
	case "delete":
		f.disable(f.mounts, path, "")
		return noContent()
	}
	return unsupported
}

// serveAuths answers sys/auth[/<path>[/tune]].
func (f *Fake) serveAuths(req *request, rest string) answer {
	if rest == "" {
		if req.op != "read" {
			return unsupported
		}
		return ok(listing(f.auths))
	}
	if p, tune := strings.CutSuffix(rest, "/tune"); tune {
		return f.serveTune(req, f.auths, "auth/"+p, p)
	}
	switch req.op {
	case "update":
		return f.enable(req, f.auths, rest, knownAuths, "auth/")
	case "delete":
		f.disable(f.auths, rest+"/", "auth/")
		return noContent()
	}
	return unsupported
}

// listing is the answer of sys/mounts and sys/auth: the mounts at the top level and
// again under data, as Vault answers.
func listing(table map[string]*mount) map[string]any {
	s := secret(nil)
	data := map[string]any{}
	for p, m := range table {
		s[p], data[p] = m, m
	}
	s["data"] = data
	return s
}

func (f *Fake) enable(req *request, table map[string]*mount, path string, known map[string]string, prefix string) answer {
	path = strings.Trim(path, "/") + "/"
	typ, _ := req.body["type"].(string)
	options := stringMap(req.body["options"])
	if typ == "kv-v2" {
		typ = "kv"
		if options == nil {
			options = map[string]string{}
		}
		options["version"] = "2"
	}
	if prefix == "" && (path == "sys/" || path == "auth/" || path == "cubbyhole/" || path == "identity/") {
		return fail(http.StatusBadRequest, fmt.Sprintf("cannot mount %q", path))
	}
	for p := range table {
		if strings.HasPrefix(path, p) || strings.HasPrefix(p, path) {
			return fail(http.StatusBadRequest, "path is already in use at "+p)
		}
	}
	if _, ok := known[typ]; !ok {
		return fail(http.StatusBadRequest, "plugin not found in the catalog: "+typ)
	}
	if options == nil {
		options = map[string]string{}
	}
	desc, _ := req.body["description"].(string)
	m := f.newMount(typ, desc, options)
	if prefix == "auth/" {
		m.Accessor = "auth_" + typ + "_" + f.hexID(4)
		m.Config["token_type"] = "default-service"
	}
	m.Local, _ = req.body["local"].(bool)
	m.SealWrap, _ = req.body["seal_wrap"].(bool)
	if cfg, ok := req.body["config"].(map[string]any); ok {
		for _, k := range []string{"default_lease_ttl", "max_lease_ttl"} {
			if v, ok := cfg[k]; ok {
				d, err := tuneDuration(v)
				if err != nil {
					return fail(http.StatusBadRequest, err.Error())
				}
				m.Config[k] = d
			}
		}
	}
	table[path] = m
	return noContent()
}

// disable removes a mount and everything stored and leased under it.
func (f *Fake) disable(table map[string]*mount, path, prefix string) {
	if table[path] == nil {
		return
	}
	delete(table, path)
	full := prefix + path
	for p := range f.data {
		if strings.HasPrefix(p+"/", full) {
			delete(f.data, p)
		}
	}
	for id := range f.leases {
		if strings.HasPrefix(id, full) {
			delete(f.leases, id)
		}
	}
}

func (f *Fake) serveTune(req *request, table map[string]*mount, shown, path string) answer {
	m := table[strings.Trim(path, "/")+"/"]
	switch req.op {
	case "read":
		if m == nil {
			return fail(http.StatusBadRequest, fmt.Sprintf("cannot fetch sysview for path %q", strings.Trim(shown, "/")+"/"))
		}
		// Unset TTLs read back as the system's, as Vault resolves them.
		ttl := func(k string) int64 {
			if v, _ := m.Config[k].(int64); v != 0 {
				return v
			}
			return defaultLeaseTTL
		}
		d := map[string]any{"default_lease_ttl": ttl("default_lease_ttl"), "max_lease_ttl": ttl("max_lease_ttl"),
			"force_no_cache": false, "description": m.Description}
		if len(m.Options) > 0 {
			d["options"] = m.Options
		}
		if tt, ok := m.Config["token_type"]; ok {
			d["token_type"] = tt
		}
		s := secret(d)
		for k, v := range d {
			s[k] = v
		}
		return ok(s)
	case "update":
	default:
		return unsupported
	}
	if m == nil {
		return fail(http.StatusBadRequest, fmt.Sprintf("tune of path %q failed: no mount entry found", strings.Trim(shown, "/")+"/"))
	}
	for _, k := range []string{"default_lease_ttl", "max_lease_ttl"} {
		if v, ok := req.body[k]; ok {
			d, err := tuneDuration(v)
			if err != nil {
				return fail(http.StatusBadRequest, err.Error())
			}
			m.Config[k] = d
		}
	}
	if d, ok := req.body["description"].(string); ok {
		m.Description = d
	}
	for k, v := range stringMap(req.body["options"]) {
		if m.Options == nil {
			m.Options = map[string]string{}
		}
		m.Options[k] = v
	}
	return noContent()
}

// tuneDuration parses a mount TTL as sys/mounts does: seconds, or a duration with a
// unit ("1h", "72h", "30s"). Vault's own parser strips the unit's last letter and
// reports a strconv error for a word, which is what the fake answers too.
func tuneDuration(x any) (int64, error) {
	if i, ok := intField(x); ok {
		return i, nil
	}
	s, _ := x.(string)
	if s == "" || s == "system" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return int64(d / time.Second), nil
	}
	_, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err == nil {
		err = fmt.Errorf("invalid duration %q", s)
	}
	return 0, err
}
