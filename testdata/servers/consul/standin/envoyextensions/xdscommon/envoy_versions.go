// Stand-in (see xdscommon.go): the Envoy versions Consul v1.16.0 supports.

package xdscommon

import (
	"fmt"
	"strings"

	envoy_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/hashicorp/go-version"
)

// EnvoyVersions lists one supported release per Envoy minor version, newest first.
var EnvoyVersions = []string{"1.26.2", "1.25.7", "1.24.8", "1.23.10"}

// UnsupportedEnvoyVersions lists point releases inside that range that do not work.
var UnsupportedEnvoyVersions = []string{}

// SupportedProxyFeatures carries per-version feature switches; v1.16.0 needs none.
type SupportedProxyFeatures struct{}

func minorOf(v string) string {
	parts := strings.SplitN(v, ".", 3)
	return parts[0] + "." + parts[1]
}

// GetMaxEnvoyMinorVersion returns the newest supported minor version, e.g. "1.26".
func GetMaxEnvoyMinorVersion() string { return minorOf(EnvoyVersions[0]) }

// GetMinEnvoyMinorVersion returns the oldest supported minor version, e.g. "1.23".
func GetMinEnvoyMinorVersion() string { return minorOf(EnvoyVersions[len(EnvoyVersions)-1]) }

// DetermineEnvoyVersionFromNode returns the version an official Envoy build reports in
// its node metadata, or nil if it does not report one.
func DetermineEnvoyVersionFromNode(node *envoy_core_v3.Node) *version.Version {
	if node == nil || node.GetUserAgentName() != "envoy" {
		return nil
	}
	bv := node.GetUserAgentBuildVersion()
	if bv == nil || bv.GetVersion() == nil {
		return nil
	}
	sv := bv.GetVersion()
	v, err := version.NewVersion(fmt.Sprintf("%d.%d.%d", sv.GetMajorNumber(), sv.GetMinorNumber(), sv.GetPatch()))
	if err != nil {
		return nil
	}
	return v
}

// DetermineSupportedProxyFeatures rejects Envoy builds older than the supported range.
func DetermineSupportedProxyFeatures(node *envoy_core_v3.Node) (SupportedProxyFeatures, error) {
	return featuresFor(DetermineEnvoyVersionFromNode(node))
}

// DetermineSupportedProxyFeaturesFromString is DetermineSupportedProxyFeatures for a
// version string.
func DetermineSupportedProxyFeaturesFromString(vs string) (SupportedProxyFeatures, error) {
	v, err := version.NewVersion(vs)
	if err != nil {
		return SupportedProxyFeatures{}, err
	}
	return featuresFor(v)
}

func featuresFor(v *version.Version) (SupportedProxyFeatures, error) {
	if v == nil {
		return SupportedProxyFeatures{}, nil // unknown (custom) build: allow it
	}
	min := version.Must(version.NewVersion(GetMinEnvoyMinorVersion() + ".0"))
	if v.LessThan(min) {
		return SupportedProxyFeatures{}, fmt.Errorf("Envoy %s is too old and is not supported by Consul", v)
	}
	for _, s := range UnsupportedEnvoyVersions {
		if u, err := version.NewVersion(s); err == nil && v.Equal(u) {
			return SupportedProxyFeatures{}, fmt.Errorf("Envoy %s is not supported by Consul", v)
		}
	}
	return SupportedProxyFeatures{}, nil
}
