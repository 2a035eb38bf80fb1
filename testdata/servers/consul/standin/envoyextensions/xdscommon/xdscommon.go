// Package xdscommon is a STAND-IN for github.com/hashicorp/consul/envoyextensions/xdscommon,
// written for nvrun's test build of Consul: the module proxy does not serve the real
// module. It provides what Consul v1.16.0's agent/xds and command packages call: the
// xDS type URLs and well-known resource names, the resource index used by the delta xDS
// server, and the Envoy version bookkeeping. These are plain data helpers, so the xDS
// server keeps its upstream behaviour; only Envoy extensions (see extensioncommon) and
// `consul troubleshoot` are disabled in this build.
package xdscommon

import (
	envoy_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
)

// Names Consul gives to some Envoy resources.
const (
	PublicListenerName        = "public_listener"
	OutboundListenerName      = "outbound_listener"
	LocalAppClusterName       = "local_app"
	FailoverClusterNamePrefix = "failover-target~"
)

// xDS v3 type URLs.
const (
	typePrefix   = "type.googleapis.com/"
	ListenerType = typePrefix + "envoy.config.listener.v3.Listener"
	RouteType    = typePrefix + "envoy.config.route.v3.RouteConfiguration"
	ClusterType  = typePrefix + "envoy.config.cluster.v3.Cluster"
	EndpointType = typePrefix + "envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretType   = typePrefix + "envoy.extensions.transport_sockets.tls.v3.Secret"
)

// IndexedResources holds xDS resources by type URL and name.
type IndexedResources struct {
	// Index maps type URL -> resource name -> resource.
	Index map[string]map[string]proto.Message
	// ChildIndex maps type URL -> parent resource name -> names of its child resources.
	ChildIndex map[string]map[string][]string
}

// EmptyIndexedResources returns an index with the maps for every indexed type made.
func EmptyIndexedResources() *IndexedResources {
	r := &IndexedResources{
		Index:      map[string]map[string]proto.Message{},
		ChildIndex: map[string]map[string][]string{},
	}
	for _, t := range []string{ListenerType, RouteType, ClusterType, EndpointType} {
		r.Index[t] = map[string]proto.Message{}
	}
	for _, t := range []string{ListenerType, ClusterType} {
		r.ChildIndex[t] = map[string][]string{}
	}
	return r
}

// IndexResources indexes resources (type URL -> list) by their names.
func IndexResources(logger hclog.Logger, resources map[string][]proto.Message) *IndexedResources {
	r := EmptyIndexedResources()
	for typeURL, list := range resources {
		for _, res := range list {
			name := GetResourceName(res)
			if name == "" {
				logger.Warn("skipping unexpected xDS type found in delta snapshot", "typeURL", typeURL)
				continue
			}
			if r.Index[typeURL] == nil {
				r.Index[typeURL] = map[string]proto.Message{}
			}
			r.Index[typeURL][name] = res
		}
	}
	return r
}

// GetResourceName returns the name of a listener, route, cluster or load assignment, or
// "" for any other message.
func GetResourceName(res proto.Message) string {
	switch r := res.(type) {
	case *envoy_listener_v3.Listener:
		return r.Name
	case *envoy_route_v3.RouteConfiguration:
		return r.Name
	case *envoy_cluster_v3.Cluster:
		return r.Name
	case *envoy_endpoint_v3.ClusterLoadAssignment:
		return r.ClusterName
	}
	return ""
}
