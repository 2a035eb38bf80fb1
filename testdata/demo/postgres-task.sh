#!/bin/sh
# The guide's database task for a raw_exec run (no Docker): PostgreSQL 15 in the task
# dir, seeded with the guide's names table, in the foreground so that Nomad (here, the
# double) supervises it. It must run as the postgres user: PostgreSQL refuses root.
#
# Env: NOMAD_TASK_DIR, NOMAD_PORT_db (from Nomad), POSTGRES_PASSWORD (the superuser's
# password, the guide's db_password), PG_BIN (optional).
set -eu
PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
data=$NOMAD_TASK_DIR/pgdata
port=${NOMAD_PORT_db:?NOMAD_PORT_db is not set}

if [ ! -s "$data/PG_VERSION" ]; then
  pwfile=$NOMAD_TASK_DIR/.pwfile
  umask 077
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}" > "$pwfile"
  "$PG_BIN/initdb" -D "$data" --username=postgres --pwfile="$pwfile" --auth=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Seed in single-user mode, before the server listens, so no client ever sees an
  # empty table.
  "$PG_BIN/postgres" --single -D "$data" postgres >/dev/null <<'SQL'
CREATE TABLE names (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO names (name) VALUES ('John Doe'), ('Peter Parker'), ('Clifford Roosevelt'), ('Bruce Wayne'), ('Steven Clark'), ('Mary Jane');
SQL
fi
exec "$PG_BIN/postgres" -D "$data" -c listen_addresses=127.0.0.1 -p "$port" -k "$NOMAD_TASK_DIR"
