package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	hcl1 "github.com/hashicorp/hcl"
)

// vaultAPI is a minimal client for reading back what a contender left in its Vault.
type vaultAPI struct {
	addr, token string
	client      *http.Client
}

func newVaultAPI(addr, token string) *vaultAPI {
	return &vaultAPI{addr: addr, token: token, client: &http.Client{Timeout: 30 * time.Second}}
}

// get reads path (GET, or LIST when list) and returns the answer's "data", nil on 404.
func (a *vaultAPI) get(path string, list bool) (map[string]any, error) {
	method := http.MethodGet
	if list {
		method = "LIST"
	}
	return a.call(method, path, nil)
}

func (a *vaultAPI) call(method, path string, in any) (map[string]any, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.addr+"/v1/"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	var doc struct {
		Data map[string]any `json:"data"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return doc.Data, nil
}

// policyRules reads a policy and normalises it: path -> sorted capabilities (and any
// other attribute), so that formatting, comments and order do not count.
func (a *vaultAPI) policyRules(name string) (map[string]any, error) {
	d, err := a.get("sys/policies/acl/"+name, false)
	if err != nil || d == nil {
		return nil, err
	}
	text, _ := d["policy"].(string)
	var doc struct {
		Path map[string]map[string]any `hcl:"path"`
	}
	if err := hcl1.Decode(&doc, text); err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	out := map[string]any{}
	for p, attrs := range doc.Path {
		norm := map[string]any{}
		for k, v := range attrs {
			if k == "capabilities" {
				var caps []string
				for _, c := range v.([]any) {
					caps = append(caps, fmt.Sprint(c))
				}
				sort.Strings(caps)
				v = caps
			}
			norm[k] = v
		}
		out[p] = norm
	}
	return out, nil
}

// list returns the keys under path (LIST), sorted; none is an empty list.
func (a *vaultAPI) list(path string) ([]string, error) {
	d, err := a.get(path, true)
	if err != nil || d == nil {
		return []string{}, err
	}
	var keys []string
	for _, k := range d["keys"].([]any) {
		keys = append(keys, fmt.Sprint(k))
	}
	sort.Strings(keys)
	return keys, nil
}

// guideState is what the guide's Vault steps leave, normalised so that every contender
// that did the same work has the same state.
func (a *vaultAPI) guideState() (map[string]any, error) {
	st := map[string]any{}
	var err error
	for _, p := range []string{"nomad-server", "access-tables"} {
		if st["policy "+p], err = a.policyRules(p); err != nil {
			return nil, err
		}
	}
	if st["token role nomad-cluster"], err = a.get("auth/token/roles/nomad-cluster", false); err != nil {
		return nil, err
	}
	mounts, err := a.get("sys/mounts", false)
	if err != nil {
		return nil, err
	}
	if m, ok := mounts["database/"].(map[string]any); ok {
		st["mount database/ type"] = m["type"]
	}
	if st["database/config/postgresql"], err = a.get("database/config/postgresql", false); err != nil {
		return nil, err
	}
	if st["database/roles/accessdb"], err = a.get("database/roles/accessdb", false); err != nil {
		return nil, err
	}
	// The credentials' lease must be revoked (no lease left), and exactly one token
	// besides the root token: the Nomad server's, orphan and periodic.
	if st["leases database/creds/accessdb"], err = a.list("sys/leases/lookup/database/creds/accessdb"); err != nil {
		return nil, err
	}
	accessors, err := a.list("auth/token/accessors")
	if err != nil {
		return nil, err
	}
	var tokens []string
	for _, acc := range accessors {
		d, err := a.call(http.MethodPost, "auth/token/lookup-accessor", map[string]string{"accessor": acc})
		if err != nil {
			return nil, err
		}
		if fmt.Sprint(d["path"]) == "auth/token/root" {
			continue
		}
		tokens = append(tokens, fmt.Sprintf("policies=%v orphan=%v period=%v renewable=%v explicit_max_ttl=%v num_uses=%v type=%v",
			d["policies"], d["orphan"], d["period"], d["renewable"], d["explicit_max_ttl"], d["num_uses"], d["type"]))
	}
	sort.Strings(tokens)
	st["tokens besides root"] = tokens
	return st, nil
}

// canonical is a state as stable JSON (map keys sorted), for comparing contenders.
func canonical(st any) string {
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return "unmarshalable: " + err.Error()
	}
	return string(b)
}

// sameState compares a contender's state with the first one seen and says what differs.
type stateCheck struct {
	first, firstBy string
}

func (c *stateCheck) check(by string, st any) error {
	s := canonical(st)
	if c.first == "" {
		c.first, c.firstBy = s, by
		return nil
	}
	if s == c.first {
		return nil
	}
	return fmt.Errorf("%s left a different Vault state than %s:\n%s", by, c.firstBy, lineDiff(c.first, s))
}

// lineDiff lists the lines of b not in a and of a not in b (enough for small states).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
