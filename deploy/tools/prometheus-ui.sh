#!/usr/bin/env bash
# A Prometheus with a web UI, for the screenshots only; prints the directory to run it from (bin/prometheus, and
# web/ for --web.local-assets).
#
# Why a second Prometheus: Debian's Prometheus 3 (the one install.sh fetches for the tests) ships no web UI at all
# (the React UI is not packaged and the classic one is gone from 3.x), and the upstream UI tarball is on GitHub,
# which these machines cannot reach. Debian bookworm's Prometheus 2.42 still carries the classic graph page, with its
# JavaScript from Debian's libjs-* packages. This script `apt-get download`s those (the host's own apt sources;
# nothing is installed, no system file changes) and unpacks them with `dpkg -x` into one tree, where the package's
# relative links to /usr/share/javascript resolve. Cached in ${cache}/prometheus-ui; a second run takes milliseconds.
#
# Usage: bash deploy/tools/prometheus-ui.sh
set -euo pipefail

# shellcheck source=deploy/tools/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

packages=(prometheus libjs-bootstrap4 libjs-eonasdan-bootstrap-datetimepicker libjs-jquery libjs-jquery-hotkeys
  libjs-moment libjs-moment-timezone libjs-mustache libjs-popper.js libjs-rickshaw libjs-d3 fonts-glyphicons-halflings)
store="${cache}/prometheus-ui"
tree="${store}/root"
ready() { [ -f "${tree}/usr/share/prometheus/web/templates/graph.html" ] && "${tree}/usr/bin/prometheus" --version >/dev/null 2>&1; }

if ! ready; then
  mkdir -p "${store}"
  exec 9>"${store}/lock"
  flock 9
  if ! ready; then
    version="$(apt-cache policy prometheus | awk '/Candidate:/ { print $2 }')"
    case "${version}" in
    2.*) ;;
    *) die "the host's apt offers prometheus '${version:-none}'; the classic UI needs Debian bookworm's 2.x" ;;
    esac
    work="$(mktemp -d "${store}/.work.XXXXXX")"
    trap 'rm -rf "${work}"' EXIT
    (cd "${work}" && apt-get -qq download "${packages[@]}" 2>/dev/null) || die "apt-get download ${packages[*]} failed"
    for deb in "${work}"/*.deb; do dpkg -x "${deb}" "${work}/root"; done
    rm -rf "${tree}"
    mv -T "${work}/root" "${tree}"
    log "prometheus-ui: $("${tree}/usr/bin/prometheus" --version 2>&1 | head -n1)"
  fi
fi
ready || die "the unpacked Prometheus has no classic UI"
echo "${tree}/usr"
