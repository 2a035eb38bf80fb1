// Package troubleshoot is a STAND-IN for github.com/hashicorp/consul/troubleshoot/proxy,
// written for nvrun's test build of Consul (the module proxy does not serve the real
// module). It has only the API that Consul's `consul troubleshoot proxy` and
// `consul troubleshoot upstreams` commands call, and every call fails with
// ErrNotSupported. Nothing else in the agent uses this package.
package troubleshoot

import (
	"errors"
	"net"
)

// ErrNotSupported is returned by every operation of this stand-in.
var ErrNotSupported = errors.New("consul troubleshoot is not supported in this test build")

// Troubleshoot would talk to an Envoy admin endpoint.
type Troubleshoot struct {
	AdminAddr *net.IPAddr
	AdminPort string
}

// Message is one result line of a troubleshooting run.
type Message struct {
	Success         bool
	Message         string
	PossibleActions []string
}

// Messages is the result of a troubleshooting run.
type Messages []Message

// Success reports whether every message is a success.
func (m Messages) Success() bool {
	for _, msg := range m {
		if !msg.Success {
			return false
		}
	}
	return true
}

// UpstreamIP describes a transparent-proxy upstream.
type UpstreamIP struct {
	IPs          []string
	IsVirtual    bool
	ClusterNames map[string]struct{}
}

// NewTroubleshoot always fails in this stand-in.
func NewTroubleshoot(adminAddr *net.IPAddr, adminPort string) (*Troubleshoot, error) {
	return nil, ErrNotSupported
}

// RunAllTests always fails in this stand-in.
func (t *Troubleshoot) RunAllTests(upstreamEnvoyID, upstreamIP string) (Messages, error) {
	return nil, ErrNotSupported
}

// GetUpstreams always fails in this stand-in.
func (t *Troubleshoot) GetUpstreams() ([]string, []UpstreamIP, error) {
	return nil, nil, ErrNotSupported
}
