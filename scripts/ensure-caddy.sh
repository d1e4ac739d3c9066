#!/usr/bin/env bash
# Make sure the deploy tests (tests/ops/test_deploy.py) have Caddy: Debian's package where we are root with apt
# (CI, this sandbox); elsewhere say how to get it.
set -euo pipefail
if command -v caddy >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Caddy for the deploy tests (apt-get install caddy)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null
  # The package starts a system Caddy on :80; the tests run their own.
  systemctl disable --now caddy >/dev/null 2>&1 || pkill -x caddy || true
  exit 0
fi
echo "The deploy tests need caddy (https://caddyserver.com/docs/install, or apt-get install caddy)." >&2
exit 1
