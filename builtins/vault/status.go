package vault

import (
	"context"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// status is vault.status(): the server's seal status, as `vault status` shows it.
//
//	vault.status() -> struct(initialized, sealed, version, cluster_name, cluster_id,
//	                         ha_enabled, type, t, n, progress, storage_type)
//
// It only reads (unauthenticated endpoints), records nothing, and is Unknown offline.
// In a plan it reports the state now, not the state after this run's planned init or
// unseal. ha_enabled comes from sys/leader, which a sealed Vault does not answer: it is
// None then.
func (v *vault) status(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return v.run.Query(thread, runtime.Query{
		Server:    v.server,
		Address:   "vault status",
		Unblocked: true, // unauthenticated: read even while a login is pending
		Read: func(ctx context.Context) (runtime.Answer, error) {
			c, err := v.api("")
			if err != nil {
				return runtime.Answer{}, err
			}
			st, err := c.Sys().SealStatusWithContext(ctx)
			if err != nil {
				return runtime.Answer{}, v.explain(err)
			}
			var ha starlark.Value = starlark.None
			if st.Initialized && !st.Sealed {
				leader, err := c.Sys().LeaderWithContext(ctx)
				if err != nil {
					return runtime.Answer{}, v.explain(err)
				}
				ha = starlark.Bool(leader.HAEnabled)
			}
			return runtime.Answer{Fingerprint: runtime.HashFingerprint(st), Value: runtime.Struct(starlark.StringDict{
				"initialized":  starlark.Bool(st.Initialized),
				"sealed":       starlark.Bool(st.Sealed),
				"version":      starlark.String(st.Version),
				"cluster_name": starlark.String(st.ClusterName),
				"cluster_id":   starlark.String(st.ClusterID),
				"ha_enabled":   ha,
				"type":         starlark.String(st.Type),
				"t":            starlark.MakeInt(st.T),
				"n":            starlark.MakeInt(st.N),
				"progress":     starlark.MakeInt(st.Progress),
				"storage_type": starlark.String(st.StorageType),
			})}, nil
		},
	})
}
