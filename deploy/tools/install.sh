#!/usr/bin/env bash
# Fetch the tools that validate deploy/ without Docker into <repo>/.tools/ (gitignored):
#   - prometheus + promtool 3.x   (Debian sid; bookworm/trixie only ship 2.x)
#   - docker-compose v2           (Debian sid, else trixie; needs no Docker daemon for `config`)
#   - otelcorecol                 (the OpenTelemetry Collector, core components, built from Debian's Go sources
#                                  by otelcol.sh, which this script runs next)
#   - helm, kubeconform, otelcol-fleet, Kubernetes/Prometheus-Operator schemas (fleet.sh, run last: the Helm chart's
#                                  tools, from the Go module proxy and PyPI at pinned versions)
#
# How: `apt-get download` against a PRIVATE sources list, package lists and cache (the system's apt
# configuration, lists and installed packages are never touched), then `dpkg -x` into .tools/root and
# symlinks in .tools/bin. The binaries are Go programs that only link libc, so they run on bookworm.
#
# Idempotent and fast on a second run: when .tools/bin already holds working 3.x/2.x binaries it exits at
# once, without network. Downloaded .debs are also kept in a per-user cache (outside the repo), so a fresh
# clone on the same machine unpacks them again without downloading.
#
# Usage: bash deploy/tools/install.sh [--refresh]     (--refresh: update the private lists, download again)
# Env:   OLLAMA_OTEL_TOOLS_DIR   where to unpack (default <repo>/.tools)
#        OLLAMA_OTEL_TOOLS_CACHE where apt state + .debs live (default ${XDG_CACHE_HOME:-~/.cache}/ollama-otel/deploy-tools)
#        DEBIAN_MIRROR           Debian archive URI (default: the one this host's apt sources already use)
set -euo pipefail

# shellcheck source=deploy/tools/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"

# Major version printed by a tool, or empty when it does not run.
major_of() { "$@" 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 | cut -d. -f1 || true; }

tools_ok() {
  [ "$(major_of "${tools}/bin/promtool" --version)" = 3 ] &&
    [ "$(major_of "${tools}/bin/prometheus" --version)" = 3 ] &&
    [ "$(major_of "${tools}/bin/docker-compose" version)" = 2 ]
}

# The collectors and the chart's tools are built by their own scripts (minutes, once per machine).
# One failing does not stop the other; the exit status is the last failure's.
build_collector() {
  local status=0
  bash "${repo_root}/deploy/tools/otelcol.sh" "$@" || status=$?
  bash "${repo_root}/deploy/tools/fleet.sh" "$@" || status=$?
  exit "${status}"
}

if [ "${refresh}" = 0 ] && tools_ok; then
  log "up to date in ${tools} ($(tr '\n' ' ' <"${tools}/VERSIONS" 2>/dev/null))"
  build_collector
fi

apt_init
debs="${cache}/debs"
mkdir -p "${debs}"

# Cached .debs of a package, oldest first (Debian file names are package_version_arch.deb: no spaces).
cached_debs() { find "${debs}" -maxdepth 1 -name "${1}_*_amd64.deb" | sort -V; }
cached_deb() { cached_debs "$1" | tail -n1; }

# fetch PACKAGE SUITE [SUITE...]: make sure a .deb of PACKAGE is in the cache (first suite that has it).
fetch() {
  local pkg="$1" suite
  shift
  if [ "${refresh}" = 0 ] && [ -n "$(cached_deb "${pkg}")" ]; then
    return
  fi
  update_lists
  for suite in "$@"; do
    if (cd "${debs}" && apt-get "${apt_opts[@]}" -qq download "${pkg}/${suite}" >&2 2>/dev/null); then
      log "downloaded ${pkg} from ${suite}"
      # Keep only the newest .deb of the package.
      cached_debs "${pkg}" | head -n -1 | xargs -r rm -f
      return
    fi
  done
  die "could not download ${pkg} from: $*"
}

fetch prometheus sid
fetch promtool sid
fetch docker-compose sid trixie

rm -rf "${tools:?}/root" "${tools:?}/bin"
mkdir -p "${tools}/root" "${tools}/bin"
: >"${tools}/VERSIONS.tmp"
for pkg in prometheus promtool docker-compose; do
  deb="$(cached_deb "${pkg}")"
  dpkg -x "${deb}" "${tools}/root"
  echo "${pkg} $(dpkg-deb -f "${deb}" Version)" >>"${tools}/VERSIONS.tmp"
done
ln -s ../root/usr/bin/prometheus "${tools}/bin/prometheus"
ln -s ../root/usr/bin/promtool "${tools}/bin/promtool"
ln -s ../root/usr/libexec/docker/cli-plugins/docker-compose "${tools}/bin/docker-compose"
mv "${tools}/VERSIONS.tmp" "${tools}/VERSIONS"

tools_ok || {
  "${tools}/bin/promtool" --version || true
  "${tools}/bin/docker-compose" version || true
  die "unpacked tools do not run here (need promtool/prometheus 3.x and docker-compose 2.x)"
}
log "installed into ${tools}: $(tr '\n' ' ' <"${tools}/VERSIONS")"
build_collector "$@"
