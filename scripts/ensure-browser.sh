#!/usr/bin/env bash
# Make sure the browser tests have a Chromium: Debian's package where we are root with apt (CI, this
# sandbox), otherwise Playwright's own download (a developer laptop with internet).
set -euo pipefail
VENV_PYTHON="${1:-.venv/bin/python}"

if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then exit 0; fi
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Chromium for the browser tests (apt-get install chromium)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi

echo "Installing Playwright's Chromium for the browser tests..."
"$VENV_PYTHON" -m playwright install chromium
