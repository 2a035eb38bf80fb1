package vault

import (
	"context"

	"github.com/hashicorp/vault/api"
	"go.starlark.net/starlark"
)

// auth is vault.auth(path, type, description=None, options=None,
// default_lease_ttl=None, max_lease_ttl=None, local=False, seal_wrap=False,
// namespace=None), as `vault auth enable -path=PATH TYPE`.
//
// It behaves exactly as vault.mount (see mount.go), on sys/auth instead of sys/mounts:
// not enabled -> create; enabled with another type -> an error naming both; same type
// -> the given description, options and lease TTLs are compared, and a difference is
// tuned (sys/mounts/auth/PATH/tune); equal -> unchanged.
//
// It returns struct(path, type, accessor). The accessor names the method in templated
// policies ({{identity.entity.aliases.<accessor>.metadata.x}}); Vault assigns it when
// enabling, so in a plan that enables the method the whole value is known after apply.
func (v *vault) auth(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	spec, err := unpackMountSpec(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	return v.ensureMount(thread, spec, mountKind{
		what: "auth method", addrKind: "auth",
		list: func(ctx context.Context, c *api.Client) (map[string]*api.MountOutput, error) {
			return c.Sys().ListAuthWithContext(ctx)
		},
		enable: func(ctx context.Context, c *api.Client, path string, in *api.MountInput) error {
			return c.Sys().EnableAuthWithOptionsWithContext(ctx, path, in)
		},
		disable: func(ctx context.Context, c *api.Client, path string) error {
			return c.Sys().DisableAuthWithContext(ctx, path)
		},
		tunePath:  func(path string) string { return "auth/" + path },
		described: true,
	})
}
