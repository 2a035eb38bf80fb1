package nomadtest

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/nomad/api"
)

// Namespaces, as Nomad 1.6's open-source server keeps them: "default" always exists;
// others are created, updated and deleted through /v1/namespace.

var defaultNamespace = &api.Namespace{Name: api.DefaultNamespace, Description: "Default shared namespace", CreateIndex: 1, ModifyIndex: 1}

// validNamespaceName is structs.validNamespaceName.
var validNamespaceName = regexp.MustCompile("^[a-zA-Z0-9-]{1,128}$")

// maxNamespaceDescriptionLength is structs.maxNamespaceDescriptionLength.
const maxNamespaceDescriptionLength = 256

// namespaceExists reports whether ns exists; callers need not hold s.mu.
func (s *Server) namespaceExists(ns string) bool {
	if ns == api.DefaultNamespace {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.namespaces[ns] != nil
}

// allNamespaces is every namespace, by name; callers hold s.mu.
func (s *Server) allNamespaces() []*api.Namespace {
	out := []*api.Namespace{}
	if s.namespaces[api.DefaultNamespace] == nil {
		out = append(out, defaultNamespace)
	}
	for _, ns := range s.namespaces {
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) namespacesRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	// Whether Nomad 1.6 pages namespaces is not established here: refuse rather than
	// guess (its list is small, ordered by name).
	if q := r.URL.Query(); q.Get("per_page") != "" || q.Get("next_token") != "" {
		return nil, coded(http.StatusBadRequest, "per_page and next_token are not served for namespaces by the nomadtest double")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIndex(r, s.tableIndex(tableNamespaces))
	out := []*api.Namespace{}
	for _, ns := range s.allNamespaces() {
		if strings.HasPrefix(ns.Name, r.URL.Query().Get("prefix")) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// namespaceRequest serves /v1/namespace (create) and /v1/namespace/:name (read,
// create or update, delete).
func (s *Server) namespaceRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	parts := pathParts(r, "/v1/namespace/")
	if r.URL.Path == "/v1/namespace" {
		parts = nil
	}
	name := ""
	if len(parts) == 1 {
		name = parts[0]
	} else if len(parts) > 1 {
		return nil, coded(http.StatusNotFound, "Invalid URL")
	}
	switch r.Method {
	case http.MethodGet:
		if name == "" {
			return nil, errInvalidMethod
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ns := range s.allNamespaces() {
			if ns.Name == name {
				setIndex(r, ns.ModifyIndex)
				return ns, nil
			}
		}
		setIndex(r, s.tableIndex(tableNamespaces))
		return nil, coded(http.StatusNotFound, "namespace not found")
	case http.MethodPut, http.MethodPost:
		return s.upsertNamespace(r, name)
	case http.MethodDelete:
		if name == "" {
			return nil, errInvalidMethod
		}
		return s.deleteNamespace(name)
	}
	return nil, errInvalidMethod
}

func (s *Server) upsertNamespace(r *http.Request, pathName string) (any, error) {
	var ns api.Namespace
	if err := decodeStrict(r, &ns); err != nil {
		return nil, err
	}
	if pathName != "" && ns.Name != pathName {
		return nil, coded(http.StatusBadRequest, "Namespace name does not match request path")
	}
	var errs error
	if !validNamespaceName.MatchString(ns.Name) {
		errs = multierror.Append(errs, fmt.Errorf("invalid name %q. Must match regex %s", ns.Name, validNamespaceName))
	}
	if len(ns.Description) > maxNamespaceDescriptionLength {
		errs = multierror.Append(errs, fmt.Errorf("description longer than %d", maxNamespaceDescriptionLength))
	}
	if errs != nil {
		return nil, rpcError(fmt.Errorf("Invalid namespace %q: %v", ns.Name, errs))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.write(tableNamespaces)
	stored := ns
	stored.CreateIndex, stored.ModifyIndex = idx, idx
	if ns.Name == api.DefaultNamespace {
		stored.CreateIndex = defaultNamespace.CreateIndex
	}
	if old := s.namespaces[ns.Name]; old != nil {
		stored.CreateIndex = old.CreateIndex
	}
	if s.namespaces == nil {
		s.namespaces = map[string]*api.Namespace{}
	}
	s.namespaces[ns.Name] = &stored
	return nil, nil
}

func (s *Server) deleteNamespace(name string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == api.DefaultNamespace {
		return nil, rpcError(errors.New("can not delete default namespace"))
	}
	if s.namespaces[name] == nil {
		return nil, rpcError(fmt.Errorf("namespace %q doesn't exist", name))
	}
	for key, e := range s.jobs {
		if key.ns == name && str(e.job.Status) != "dead" {
			return nil, rpcError(fmt.Errorf("namespace %q has non-terminal jobs in regions: [%s]", name, s.cfg.Region))
		}
	}
	delete(s.namespaces, name)
	s.write(tableNamespaces)
	return nil, nil
}
