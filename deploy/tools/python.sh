#!/usr/bin/env bash
# A Python virtual environment for one pinned requirements file, made once and cached; prints its directory.
#
# The requirements files pin the whole closure with `==` (what `pip freeze` printed after a first install), and
# pip installs them with --no-deps and then runs `pip check`: nothing outside the file is ever resolved or fetched, and a
# file that misses a dependency fails here rather than at import time. One file per setup whose pins would conflict
# (packages/proxy/test/python, deploy/phoenix, bench/peers/python).
#
# The venv lives in ${cache}/python/<file name>-<key>, the key being a hash of the file, this script and the Python
# version, and .tools/python/<file name> links to it. A venv that finished installing has a COMPLETE marker; a second
# call (or a fresh clone on the same machine) only checks it, in milliseconds, without network. Installs of the same
# file wait for each other (flock); a failed install leaves nothing behind.
#
# Usage: bash deploy/tools/python.sh REQUIREMENTS_FILE      (exit 0 and the venv's path on stdout, or exit 1)
# Env:   OLLAMA_OTEL_PYTHON        the interpreter (default python3; 3.10 or newer)
#        OLLAMA_OTEL_TOOLS_DIR, OLLAMA_OTEL_TOOLS_CACHE   as for install.sh
#        PIP_INDEX_URL etc.        pip's own settings apply
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${OLLAMA_OTEL_TOOLS_DIR:-${repo_root}/.tools}"
cache="${OLLAMA_OTEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/ollama-otel/deploy-tools}/python"
python="${OLLAMA_OTEL_PYTHON:-python3}"

log() { echo "python.sh: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

[ $# = 1 ] && [ -f "$1" ] || die "usage: python.sh REQUIREMENTS_FILE"
requirements="$(readlink -f "$1")"
name="$(basename "${requirements}" .txt)"
version="$("${python}" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)" ||
  die "${python} does not run (set OLLAMA_OTEL_PYTHON)"
key="$( (
  cat "${requirements}" "${BASH_SOURCE[0]}"
  echo "${version}"
) | sha256sum | cut -c1-12)"
venv="${cache}/${name}-${key}"

link() {
  mkdir -p "${tools}/python"
  ln -sfn "${venv}" "${tools}/python/.${name}.tmp"
  mv -Tf "${tools}/python/.${name}.tmp" "${tools}/python/${name}"
  echo "${venv}"
}

[ -f "${venv}/COMPLETE" ] && link && exit 0

mkdir -p "${cache}"
exec 9>"${cache}/${name}.lock"
flock 9
[ -f "${venv}/COMPLETE" ] && link && exit 0

started=${SECONDS}
log "installing ${name} ($(grep -c '==' "${requirements}") pinned packages) into ${venv}"
trap 'rm -rf "${venv}"' EXIT
rm -rf "${venv}"
"${python}" -m venv "${venv}" || die "${python} -m venv failed (Debian: apt-get install python3-venv)"
pip=("${venv}/bin/python" -m pip --disable-pip-version-check --no-input --timeout 20 --retries 2)
"${pip[@]}" install -q --no-deps -r "${requirements}" >&2 || die "pip install -r ${requirements} failed"
"${pip[@]}" check >&2 || die "the pins in ${requirements} are incomplete or inconsistent"
"${pip[@]}" freeze >"${venv}/FREEZE"
echo "${requirements} ${version} $(date -u +%FT%TZ) $((SECONDS - started)) s" >"${venv}/COMPLETE"
trap - EXIT
log "${name} installed in $((SECONDS - started)) s"
link
