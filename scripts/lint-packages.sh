#!/usr/bin/env bash
# Checks every published package as npm would ship it: publint (files, exports, fields of
# package.json) and Are the Types Wrong (each export's types resolve to what Node loads).
# The packages are ESM only for Node 20+, so attw checks the ESM profile: require() from CommonJS
# and the pre-exports "node10" resolution are not supported by design.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for pkg in protocol card pcstore merchant wallet server http cli; do
  echo "== @peage/$pkg"
  npx --no-install publint --strict "packages/$pkg" || status=1
  npx --no-install attw --pack "packages/$pkg" --profile esm-only --format table-flipped --no-emoji --no-color || status=1
done
if [ "$status" -ne 0 ]; then
  echo "lint-packages: a package would not install or type-check as published" >&2
fi
exit "$status"
