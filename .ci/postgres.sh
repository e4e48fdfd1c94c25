#!/usr/bin/env bash
# Install (Debian packages) and start a throwaway PostgreSQL server for the state-store tests.
# Source it: exports CONNECTOR_TEST_POSTGRES_URL. The cluster lives in a temp directory, listens
# on 127.0.0.1 only, trusts local connections, and is stopped by `pg_ctl stop` (see .ci/run).
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
# a free port, so a server left running elsewhere on the machine never collides with this one
PG_PORT="${PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
PG_DIR="$(mktemp -d /tmp/connector-pg.XXXXXX)"
chown postgres:postgres "$PG_DIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
as_pg "'$PG_BIN/initdb' -D '$PG_DIR/data' -U postgres --auth=trust -E UTF8 >/dev/null"
as_pg "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -w -o \"-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1\" start >/dev/null"
as_pg "'$PG_BIN/psql' -h 127.0.0.1 -p $PG_PORT -U postgres -qc \"CREATE ROLE connector LOGIN CREATEDB\""
as_pg "'$PG_BIN/psql' -h 127.0.0.1 -p $PG_PORT -U postgres -qc \"CREATE DATABASE connector OWNER connector\""
export CONNECTOR_TEST_POSTGRES_URL="postgresql+psycopg://connector@127.0.0.1:$PG_PORT/connector"
# pg_ctl refuses to run as root, so the stop command switches user like the start did
if [ "$(id -u)" = 0 ]; then
  export CONNECTOR_TEST_PG_STOP="su postgres -s /bin/sh -c \"'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop\""
else
  export CONNECTOR_TEST_PG_STOP="'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop"
fi
echo "postgres: $CONNECTOR_TEST_POSTGRES_URL"
