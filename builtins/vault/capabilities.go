package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/nvrun/nvrun/runtime"
)

// capabilityChecker is provided to other modules as "vault.capabilities" (see
// runtime.Run.Provide). The nomad module asserts this small interface:
//
//	CheckCapabilities(ctx, policies []string, path string) (caps, grantedBy []string, err error)
//
// to check, say, that a job's vault policies may read the secret its template reads.
// EvaluateCapabilities, with the same signature, answers from nvrun's own evaluation
// only, minting nothing: for checks whose outcome deploys nothing (an unchanged job).
type capabilityChecker struct{ v *vault }

// EvaluateCapabilities is CheckCapabilities without Vault's confirmation.
func (c *capabilityChecker) EvaluateCapabilities(ctx context.Context, policies []string, path string) ([]string, []string, error) {
	return c.evaluate(ctx, policies, path)
}

// CheckCapabilities returns the capabilities that the named policies together grant on
// path, evaluated with Vault's ACL rules (acl.go), and the policies that grant "read"
// there. A policy written earlier in this run by vault.policy is taken from the script,
// so the check works in a plan, before the policy exists; any other is read from Vault
// (read-only). A policy that neither knows is an error when Vault cannot be read
// (offline, or before login), and grants nothing when Vault says it does not exist.
//
// The answer is confirmed by Vault itself (so the caller asks only in apply: nomad.run
// right before a register; a plan calls EvaluateCapabilities, which never mints): a short-lived orphan token (ttl 1m,
// exactly these policies, no default policy unless named) is minted, sys/capabilities
// is asked for it on path, and the token is revoked. Vault's answer wins. The trade-off:
// that is three requests and a token mint (audited, not in the plan) per check, and it
// needs a token allowed to mint orphans with these policies; if the confirmation cannot
// be made, that is an error (the check fails closed). A plan never mints anything.
func (c *capabilityChecker) CheckCapabilities(ctx context.Context, policies []string, path string) ([]string, []string, error) {
	_, readBy, err := c.evaluate(ctx, policies, path)
	if err != nil {
		return nil, nil, err
	}
	v := c.v
	confirmed, err := v.vaultCapabilities(ctx, policies, path)
	if err != nil {
		// Failing closed: an answer Vault would not confirm is no answer. The caller
		// decides whether to go ahead unchecked (nomad.run's check_templates = "warn").
		return nil, nil, fmt.Errorf("could not confirm the capabilities of %s with Vault (it mints a 1m token with exactly these policies and asks sys/capabilities): %w", showValue(policies), err)
	}
	confirmed = normaliseCaps(confirmed)
	if !containsString(confirmed, "read") && !containsString(confirmed, "root") {
		readBy = nil
	}
	return confirmed, readBy, nil
}

// evaluate applies Vault's ACL rules (acl.go) to the named policies, as written by this
// script or read from Vault.
func (c *capabilityChecker) evaluate(ctx context.Context, policies []string, path string) ([]string, []string, error) {
	v := c.v
	var named []namedPolicy
	for _, name := range policies {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "root" {
			named = append(named, namedPolicy{name: name})
			continue
		}
		if rules, ok := v.policies[v.policyKey("", name)]; ok {
			named = append(named, namedPolicy{name: name, rules: rules})
			continue
		}
		if unread := v.server.Unread(); unread != "" {
			why := "the run is offline"
			if (runtime.Live{Unread: unread}).Pending() {
				why = string(unread)
			}
			return nil, nil, notYetKnown{fmt.Errorf("vault policy %q is not written by this script and cannot be read from Vault (%s)", name, why)}
		}
		cl, err := v.api("")
		if err != nil {
			return nil, nil, err
		}
		text, err := cl.Sys().GetPolicyWithContext(ctx, name)
		if err != nil {
			return nil, nil, fmt.Errorf("vault policy %q: %w", name, v.explain(err))
		}
		var rules *policyRules
		if text != "" {
			if rules, err = parsePolicyMemo(text); err != nil {
				return nil, nil, fmt.Errorf("vault policy %q: %w", name, err)
			}
		}
		named = append(named, namedPolicy{name: name, rules: rules})
	}
	caps, readBy := newACL(named).capabilities(path)
	return caps, readBy, nil
}

// vaultCapabilities asks Vault what a token with exactly policies may do on path.
func (v *vault) vaultCapabilities(ctx context.Context, policies []string, path string) ([]string, error) {
	c, err := v.api("")
	if err != nil {
		return nil, err
	}
	sec, err := c.Auth().Token().CreateOrphanWithContext(ctx, &api.TokenCreateRequest{
		Policies: policies, TTL: "1m", NoDefaultPolicy: !containsString(policies, "default"),
		DisplayName: "nvrun-capability-check",
	})
	if err != nil {
		return nil, v.explain(err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, fmt.Errorf("Vault at %s returned no token", v.addr)
	}
	token := sec.Auth.ClientToken
	v.run.Secret(token)
	// The token expires in a minute anyway; revoking is tidiness, so its error is not fatal.
	defer func() { _ = c.Auth().Token().RevokeTreeWithContext(ctx, token) }()
	caps, err := c.Sys().CapabilitiesWithContext(ctx, token, path)
	if err != nil {
		return nil, v.explain(err)
	}
	return caps, nil
}

// notYetKnown is a check that cannot be answered in this plan (offline, or Vault is
// initialised or logged in to only at apply), as opposed to one that failed. Callers
// tell them apart by the NotYetKnown method (modules do not import each other).
type notYetKnown struct{ error }

func (e notYetKnown) NotYetKnown() bool { return true }
func (e notYetKnown) Unwrap() error     { return e.error }

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
