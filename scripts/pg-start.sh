#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the tests and benchmarks: a new cluster in a
# temporary directory (or the one given), listening on a free port of 127.0.0.1 only, trusting
# local connections (it holds nothing but test data and dies with the directory). Installs Debian's
# postgresql package first if the binaries are missing (as root). As root, the cluster runs as the
# `postgres` user (initdb and postgres refuse to run as root), created if missing.
#
# Prints the variables to export, so that:
#   eval "$(bash scripts/pg-start.sh)"
# sets PEAGE_TEST_DATABASE_URL (what the server's PostgreSQL tests use) and PEAGE_PG_DIR; stop it with
#   bash scripts/pg-stop.sh "$PEAGE_PG_DIR"
# Everything else goes to standard error.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "pg-start: PostgreSQL 15 is not installed in $PGBIN: install Debian's postgresql package (or run this as root)" >&2
    exit 1
  fi
  echo "pg-start: installing Debian's postgresql package" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

dir=${1:-}
if [ -z "$dir" ]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/peage-pg.XXXXXX"); fi
mkdir -p "$dir"

# A port nobody listens on now (the kernel's choice for port 0).
port=$(node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')

as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  if ! getent passwd "$owner" >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
  fi
  chown "$owner" "$dir"
  chmod 0755 "$dir"
  as_owner=(runuser -u "$owner" --)
fi

"${as_owner[@]}" "$PGBIN/initdb" --pgdata="$dir/data" --username=peage --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}
# Sockets in the cluster's own directory (not /var/run/postgresql, which may not exist), TCP on
# loopback only. Durable settings (fsync on): the benchmark compares with pgbench on this cluster.
"${as_owner[@]}" "$PGBIN/pg_ctl" --pgdata="$dir/data" --log="$dir/postgres.log" --wait --timeout=60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >&2 || {
  cat "$dir/postgres.log" >&2
  exit 1
}
"$PGBIN/psql" -q -h 127.0.0.1 -p "$port" -U peage -d postgres -c "CREATE DATABASE peage" >&2

url="postgres://peage@127.0.0.1:$port/peage"
printf 'export PEAGE_TEST_DATABASE_URL=%q\nexport PEAGE_PG_DIR=%q\nexport PEAGE_PG_BIN=%q\n' "$url" "$dir" "$PGBIN" | tee "$dir/env"
echo "pg-start: PostgreSQL listening on 127.0.0.1:$port, data in $dir" >&2
