#!/usr/bin/env bash
# Installs what Péage needs on a bare Debian machine with Node.js 20: system packages, then the
# npm workspaces (which builds the TypeScript). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssl: interoperability tests and benchmarks. pcscd, vsmartcard-vpcd: the PC/SC stack and
# its virtual reader, for the smart card. libpcsclite-dev, make, g++, python3: to build the
# native PC/SC and SQLite bindings. libxml2-utils: xmllint, to check bank files against XSDs.
# postgresql: the payment server's second storage engine, for its tests and benchmark
# (scripts/pg-start.sh runs a throwaway cluster with these binaries). softhsm2: a PKCS#11 token in
# software, so the tests sign acknowledgments with a key that never leaves a token. swtpm,
# swtpm-tools: a software TPM 2.0 for the PC store's tests and demonstration; tpm2-tools: the TPM
# stack the PC store drives it (or a real chip) with. chromium: the browser the wallet's pages are
# tested in (driven by playwright-core, which downloads no browser of its own).
need=()
for pkg in openssl pcscd vsmartcard-vpcd libpcsclite-dev libxml2-utils make g++ python3 postgresql softhsm2 swtpm swtpm-tools tpm2-tools chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]} (run this script as root, or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# vpcd (the virtual reader) listens on 35963, inside Linux's ephemeral range: an outgoing
# connection or a server on port 0 that happens to get that port keeps pcscd from opening its
# reader. The tests open thousands of connections, so the port is reserved where we may.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$reserved" ] && ! grep -qw 35963 "$reserved"; then
  current=$(cat "$reserved")
  echo "${current:+$current,}35963" >"$reserved" 2>/dev/null || echo "note: could not reserve port 35963 for vpcd" >&2
fi

npm ci --no-audit --no-fund
