#!/usr/bin/env bash
# Make sure the deploy tests (tests/ops/test_deploy.py) have Caddy, and certutil (libnss3-tools) to make a
# Chromium profile trust Caddy's local CA: Debian's packages where we are root with apt (CI, this sandbox);
# elsewhere say how to get them.
set -euo pipefail
missing=()
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} for the deploy tests (apt-get install)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # The caddy package may start a system Caddy on :80; the tests run their own on free ports.
  systemctl disable --now caddy >/dev/null 2>&1 || pkill -x caddy || true
  exit 0
fi
echo "The deploy tests need ${missing[*]} (Debian: apt-get install caddy libnss3-tools)." >&2
exit 1
