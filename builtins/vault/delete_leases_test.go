package vault

import (
	"context"
	"fmt"
	"testing"

	"github.com/nvrun/nvrun/runtime"
)

// A destroy deletes last first: a database role, then its connection, then the mount.
// The role's Delete revokes its leases while the connection still exists, so Vault
// drops the PostgreSQL users it made and the unmount (which would otherwise fail on
// leases it can no longer revoke) succeeds. Against the real Vault and PostgreSQL.
func TestDeleteDatabaseRoleRevokesLeases(t *testing.T) {
	rc := rootClient(t)
	ctx := context.Background()
	r := mustRun(t, fmt.Sprintf(`
vault.mount("t-dbl", "database")
vault.write("t-dbl/config/pg", plugin_name = "postgresql-database-plugin", allowed_roles = ["r"],
    connection_url = "postgresql://{{username}}:{{password}}@%s:%d/postgres?sslmode=disable",
    username = %q, password = %q)
vault.write("t-dbl/roles/r", db_name = "pg", default_ttl = "1h",
    creation_statements = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"])
`, pg.Host, pg.Port, pg.User, pg.Password), runtime.Apply, opts{token: rootToken(t)})

	creds, err := rc.Logical().Read("t-dbl/creds/r")
	if err != nil {
		t.Fatal(err)
	}
	user, _ := creds.Data["username"].(string)
	if ok, err := pgRoleExists(user); err != nil || !ok {
		t.Fatalf("generated user %q not in PostgreSQL (%v)", user, err)
	}
	for _, addr := range []string{`vault path "t-dbl/roles/r"`, `vault path "t-dbl/config/pg"`, `vault mount "t-dbl"`} {
		if err := r.record(t, addr).Delete(ctx); err != nil {
			t.Fatalf("Delete %s: %v", addr, err)
		}
	}
	if ok, err := pgRoleExists(user); err != nil || ok {
		t.Errorf("PostgreSQL still has the generated user after the deletes (exists %v, %v)", ok, err)
	}
	if m, err := rc.Sys().ListMounts(); err != nil || m["t-dbl/"] != nil {
		t.Errorf("mount t-dbl/ left (%v)", err)
	}
}
