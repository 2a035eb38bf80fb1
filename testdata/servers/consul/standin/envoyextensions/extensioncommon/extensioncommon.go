// Package extensioncommon is a STAND-IN for
// github.com/hashicorp/consul/envoyextensions/extensioncommon, written for nvrun's test
// build of Consul: the module proxy does not serve the real module. It declares the
// types, interfaces and helpers that Consul v1.16.0's built-in Envoy extensions and its
// xDS server use, so that they compile, but applying an Envoy extension to a proxy fails
// with ErrNotSupported. Nothing outside Envoy extensions depends on this package: the
// agent, catalog, health checks, DNS, KV and raft are unaffected.
package extensioncommon

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	envoy_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_http_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/consul/envoyextensions/xdscommon"
)

// ErrNotSupported is what applying any Envoy extension returns in this build.
var ErrNotSupported = errors.New("Envoy extensions are not supported in this test build of Consul")

// UpstreamData describes one upstream of the local proxy.
type UpstreamData struct {
	PrimarySNI        string
	SNIs              map[string]struct{}
	EnvoyID           string
	OutgoingProxyKind api.ServiceKind
	VIP               string
}

// RuntimeConfig is an extension's configuration for one service of the local proxy.
type RuntimeConfig struct {
	EnvoyExtension        api.EnvoyExtension
	ServiceName           api.CompoundServiceName
	Upstreams             map[api.CompoundServiceName]*UpstreamData
	IsSourcedFromUpstream bool
	Kind                  api.ServiceKind
	Protocol              string
}

func (c RuntimeConfig) upstream() *UpstreamData {
	if u, ok := c.Upstreams[c.ServiceName]; ok && u != nil {
		return u
	}
	return &UpstreamData{}
}

// MatchesUpstreamServiceSNI reports whether sni belongs to the configured upstream.
func (c RuntimeConfig) MatchesUpstreamServiceSNI(sni string) bool {
	_, ok := c.upstream().SNIs[sni]
	return ok
}

// UpstreamEnvoyID is the Envoy ID of the configured upstream, or "".
func (c RuntimeConfig) UpstreamEnvoyID() string { return c.upstream().EnvoyID }

// UpstreamOutgoingProxyKind is the proxy kind of the configured upstream, or "".
func (c RuntimeConfig) UpstreamOutgoingProxyKind() api.ServiceKind {
	return c.upstream().OutgoingProxyKind
}

// TrafficDirection is "inbound" or "outbound".
type TrafficDirection string

const (
	TrafficDirectionInbound  TrafficDirection = "inbound"
	TrafficDirectionOutbound TrafficDirection = "outbound"
)

// StringSet is a set of allowed string values.
type StringSet map[string]struct{}

// TrafficDirections is the set of valid TrafficDirection values.
var TrafficDirections = StringSet{string(TrafficDirectionInbound): {}, string(TrafficDirectionOutbound): {}}

// CheckRequired fails if v is empty or not in the set.
func (s StringSet) CheckRequired(v, fieldName string) error {
	if v == "" {
		return fmt.Errorf("field %s is required", fieldName)
	}
	if _, ok := s[v]; !ok {
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("invalid %s %q; supported values: %s", fieldName, v, strings.Join(keys, ", "))
	}
	return nil
}

// NormalizeServiceName fills in the default namespace and partition.
func NormalizeServiceName(sn *api.CompoundServiceName) {
	if sn.Namespace == "" {
		sn.Namespace = "default"
	}
	if sn.Partition == "" {
		sn.Partition = "default"
	}
}

// Payload is one Envoy resource handed to an extension, with its context.
type Payload[K proto.Message] struct {
	TrafficDirection TrafficDirection
	ServiceName      *api.CompoundServiceName
	RuntimeConfig    *RuntimeConfig
	Message          K
}

// IsInbound reports whether the resource serves inbound traffic.
func (p Payload[K]) IsInbound() bool { return p.TrafficDirection == TrafficDirectionInbound }

type (
	RoutePayload                 = Payload[*envoy_route_v3.RouteConfiguration]
	ClusterPayload               = Payload[*envoy_cluster_v3.Cluster]
	ClusterLoadAssignmentPayload = Payload[*envoy_endpoint_v3.ClusterLoadAssignment]
	ListenerPayload              = Payload[*envoy_listener_v3.Listener]
	FilterPayload                = Payload[*envoy_listener_v3.Filter]
)

// ClusterMap is clusters by name.
type ClusterMap map[string]*envoy_cluster_v3.Cluster

// EnvoyExtender applies an extension to a proxy's xDS resources.
type EnvoyExtender interface {
	Validate(*RuntimeConfig) error
	Extend(*xdscommon.IndexedResources, *RuntimeConfig) (*xdscommon.IndexedResources, error)
}

// BasicExtension is what a built-in extension implements; embed BasicExtensionAdapter
// to get no-op defaults.
type BasicExtension interface {
	CanApply(*RuntimeConfig) bool
	PatchRoute(RoutePayload) (*envoy_route_v3.RouteConfiguration, bool, error)
	PatchCluster(ClusterPayload) (*envoy_cluster_v3.Cluster, bool, error)
	PatchClusters(*RuntimeConfig, ClusterMap) (ClusterMap, error)
	PatchClusterLoadAssignment(ClusterLoadAssignmentPayload) (*envoy_endpoint_v3.ClusterLoadAssignment, bool, error)
	PatchListener(ListenerPayload) (*envoy_listener_v3.Listener, bool, error)
	PatchFilter(FilterPayload) (*envoy_listener_v3.Filter, bool, error)
	PatchFilters(*RuntimeConfig, []*envoy_listener_v3.Filter, bool) ([]*envoy_listener_v3.Filter, error)
}

// BasicExtensionAdapter implements every BasicExtension method as a no-op.
type BasicExtensionAdapter struct{}

func (BasicExtensionAdapter) CanApply(*RuntimeConfig) bool { return false }

func (BasicExtensionAdapter) PatchRoute(p RoutePayload) (*envoy_route_v3.RouteConfiguration, bool, error) {
	return p.Message, false, nil
}

func (BasicExtensionAdapter) PatchCluster(p ClusterPayload) (*envoy_cluster_v3.Cluster, bool, error) {
	return p.Message, false, nil
}

func (BasicExtensionAdapter) PatchClusters(_ *RuntimeConfig, c ClusterMap) (ClusterMap, error) {
	return c, nil
}

func (BasicExtensionAdapter) PatchClusterLoadAssignment(p ClusterLoadAssignmentPayload) (*envoy_endpoint_v3.ClusterLoadAssignment, bool, error) {
	return p.Message, false, nil
}

func (BasicExtensionAdapter) PatchListener(p ListenerPayload) (*envoy_listener_v3.Listener, bool, error) {
	return p.Message, false, nil
}

func (BasicExtensionAdapter) PatchFilter(p FilterPayload) (*envoy_listener_v3.Filter, bool, error) {
	return p.Message, false, nil
}

func (BasicExtensionAdapter) PatchFilters(_ *RuntimeConfig, f []*envoy_listener_v3.Filter, _ bool) ([]*envoy_listener_v3.Filter, error) {
	return f, nil
}

// BasicEnvoyExtender applies an extension to the local proxy's resources. In this build
// it leaves the resources alone and returns ErrNotSupported.
type BasicEnvoyExtender struct {
	Extension BasicExtension
}

func (*BasicEnvoyExtender) Validate(*RuntimeConfig) error { return nil }

func (*BasicEnvoyExtender) Extend(r *xdscommon.IndexedResources, cfg *RuntimeConfig) (*xdscommon.IndexedResources, error) {
	return r, fmt.Errorf("extension %q: %w", cfg.EnvoyExtension.Name, ErrNotSupported)
}

// UpstreamEnvoyExtender applies an upstream's extension to its downstream proxies. In
// this build it leaves the resources alone and returns ErrNotSupported.
type UpstreamEnvoyExtender struct {
	Extension BasicExtension
}

func (*UpstreamEnvoyExtender) Validate(*RuntimeConfig) error { return nil }

func (*UpstreamEnvoyExtender) Extend(r *xdscommon.IndexedResources, cfg *RuntimeConfig) (*xdscommon.IndexedResources, error) {
	return r, fmt.Errorf("extension %q: %w", cfg.EnvoyExtension.Name, ErrNotSupported)
}

// Location says where InsertHTTPFilter and InsertNetworkFilter put a filter.
type Location string

const (
	InsertFirst            Location = "First"
	InsertBeforeFirstMatch Location = "BeforeFirstMatch"
	InsertAfterFirstMatch  Location = "AfterFirstMatch"
	InsertBeforeLastMatch  Location = "BeforeLastMatch"
	InsertAfterLastMatch   Location = "AfterLastMatch"
)

// InsertOptions positions an inserted filter relative to the filter named FilterName.
type InsertOptions struct {
	Location   Location
	FilterName string
}

// InsertHTTPFilter is not supported in this build.
func InsertHTTPFilter(filters []*envoy_listener_v3.Filter, _ *envoy_http_v3.HttpFilter, _ InsertOptions) ([]*envoy_listener_v3.Filter, error) {
	return filters, ErrNotSupported
}

// InsertNetworkFilter is not supported in this build.
func InsertNetworkFilter(filters []*envoy_listener_v3.Filter, _ *envoy_listener_v3.Filter, _ InsertOptions) ([]*envoy_listener_v3.Filter, error) {
	return filters, ErrNotSupported
}

// MakeFilter wraps cfg as a typed network filter called name.
func MakeFilter(name string, cfg proto.Message) (*envoy_listener_v3.Filter, error) {
	a, err := anypb.New(cfg)
	if err != nil {
		return nil, err
	}
	return &envoy_listener_v3.Filter{Name: name, ConfigType: &envoy_listener_v3.Filter_TypedConfig{TypedConfig: a}}, nil
}

// MakeEnvoyHTTPFilter wraps cfg as a typed HTTP filter called name.
func MakeEnvoyHTTPFilter(name string, cfg proto.Message) (*envoy_http_v3.HttpFilter, error) {
	a, err := anypb.New(cfg)
	if err != nil {
		return nil, err
	}
	return &envoy_http_v3.HttpFilter{Name: name, ConfigType: &envoy_http_v3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// MakeUpstreamTLSTransportSocket wraps tlsContext as a "tls" transport socket.
func MakeUpstreamTLSTransportSocket(tlsContext *envoy_tls_v3.UpstreamTlsContext) (*envoy_core_v3.TransportSocket, error) {
	a, err := anypb.New(tlsContext)
	if err != nil {
		return nil, err
	}
	return &envoy_core_v3.TransportSocket{Name: "tls", ConfigType: &envoy_core_v3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}
