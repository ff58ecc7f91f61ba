#!/usr/bin/env bash
# Stops a cluster started by pg-start.sh and removes its directory: bash scripts/pg-stop.sh DIR
set -euo pipefail
dir=${1:-${PEAGE_PG_DIR:-}}
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "pg-stop: no cluster directory given (pass the PEAGE_PG_DIR that pg-start.sh printed)" >&2
  exit 1
fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ -f "$dir/data/postmaster.pid" ]; then
  as_owner=()
  if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u "$(stat -c %U "$dir/data")" --); fi
  "${as_owner[@]}" "$PGBIN/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >&2 || true
fi
rm -rf "$dir"
