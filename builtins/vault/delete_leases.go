package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
)

// revokeRoleLeases revokes the leases of a database secrets engine role before the role
// is deleted. A destroy deletes last first: the role (and then its connection) goes
// before the mount, and once the connection is gone Vault can no longer drop the users
// it made, so the unmount fails ("failed to find entry for connection"). Revoking the
// role's leases while the connection still exists drops them as their lease's end would.
// Any other path, or a role of another engine, is left alone.
func revokeRoleLeases(ctx context.Context, c *api.Client, path string) error {
	i := strings.LastIndex(path, "/roles/")
	if i <= 0 || strings.Contains(path[i+len("/roles/"):], "/") {
		return nil
	}
	mount, role := path[:i], path[i+len("/roles/"):]
	sec, err := c.Logical().ReadWithContext(ctx, "sys/mounts/"+mount)
	if err != nil || sec == nil {
		return nil // not a mount of its own (or not readable): nothing this knows to revoke
	}
	if typ, _ := sec.Data["type"].(string); typ != "database" {
		return nil
	}
	if err := c.Sys().RevokePrefixWithContext(ctx, mount+"/creds/"+role); err != nil {
		return fmt.Errorf("revoking the leases of %s/creds/%s before deleting the role: %w", mount, role, err)
	}
	return nil
}
