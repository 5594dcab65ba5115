#!/usr/bin/env bash
# Debian's `chromium` for the screenshots (driven by playwright-core with executablePath; no browser download).
# Prints the browser's path. When it is missing: as root, `apt-get install chromium` (a system package, ~300 MB with its
# libraries; a fresh CI machine needs it once); otherwise it fails and says how to install it.
#
# Usage: bash deploy/tools/chromium.sh      Env: CHROMIUM (a browser to use instead)
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
runs() { [ -n "$1" ] && "$1" --version >/dev/null 2>&1; }

found="${CHROMIUM:-$(command -v chromium || true)}"
if runs "${found}"; then
  echo "${found}"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "no chromium here; install it with: sudo apt-get install chromium (or set CHROMIUM)"
  exit 1
fi
log "installing Debian's chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >&2 || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends chromium >&2; } ||
  { log "apt-get install chromium failed"; exit 1; }
command -v chromium
