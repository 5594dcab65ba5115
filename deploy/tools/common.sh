# Sourced by install.sh and otelcol.sh (`. common.sh "$@"`): their settings, and a PRIVATE apt for fetching Debian
# packages without touching the system.
#
# Settings: repo_root; tools (OLLAMA_OTEL_TOOLS_DIR, default <repo>/.tools); cache (OLLAMA_OTEL_TOOLS_CACHE, default
# ${XDG_CACHE_HOME:-~/.cache}/ollama-otel/deploy-tools: apt state, .debs, the collector build); refresh (1 with
# --refresh: update the package lists, download and resolve again).
#
# The private apt: own sources list (sid + trixie from the mirror this host already uses), own package lists and
# cache, all under ${cache}/apt; the system's apt configuration, lists and installed packages are never read for
# packages nor written. `apt-get download` only fetches .debs (verified against the signed lists); `dpkg -x` unpacks.
# Provides: log, die, apt_init, update_lists, ensure_lists, apt_opts, mirror.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${OLLAMA_OTEL_TOOLS_DIR:-${repo_root}/.tools}"
cache="${OLLAMA_OTEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/ollama-otel/deploy-tools}"
refresh=0
[ "${1:-}" = "--refresh" ] && refresh=1

log() { echo "deploy-tools: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# The Debian archive this host already uses (deb822 .sources or one-line .list), unless DEBIAN_MIRROR is set.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "${DEBIAN_MIRROR%/}"
    return
  fi
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "${f}" ] || continue
    awk '
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*URIs:/ { for (i = 2; i <= NF; i++) print $i; next }
      /^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i ~ /:\/\//) { print $i; break } }
    ' "${f}"
  done | sed 's:/*$::' | grep -E '/debian$' | head -n1
}

# Checks the host, writes the private sources list and sets apt_opts. Idempotent.
apt_init() {
  [ -n "${apt_dir:-}" ] && return
  if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    die "needs a Debian-like host (apt-get, dpkg)"
  fi
  [ -r "${keyring}" ] || die "missing ${keyring} (package debian-archive-keyring)"
  [ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is supported (got $(dpkg --print-architecture))"
  mirror="$(debian_mirror)"
  [ -n "${mirror}" ] || die "could not find a Debian mirror in /etc/apt/sources*; set DEBIAN_MIRROR"

  apt_dir="${cache}/apt"
  mkdir -p "${apt_dir}/lists/partial" "${apt_dir}/cache/archives/partial"
  cat >"${apt_dir}/sources.list" <<SOURCES
deb [signed-by=${keyring}] ${mirror} sid main
deb [signed-by=${keyring}] ${mirror} trixie main
SOURCES
  apt_opts=(
    -o "Dir::Etc::SourceList=${apt_dir}/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null"
    -o "Dir::State::Lists=${apt_dir}/lists"
    -o "Dir::State::status=/dev/null"
    -o "Dir::Cache=${apt_dir}/cache"
    -o "APT::Architecture=amd64"
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
  )
}

lists_fresh=0
# apt-get update on the private lists, at most once per run.
update_lists() {
  apt_init
  [ "${lists_fresh}" = 1 ] && return
  log "apt-get update (private lists: sid + trixie from ${mirror})"
  apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update on the private lists failed"
  lists_fresh=1
}

# The private lists as they are, updated only when there are none yet or on --refresh (so the package versions,
# and anything keyed by them, stay put between runs).
ensure_lists() {
  apt_init
  if [ "${refresh}" = 1 ] || ! compgen -G "${apt_dir}/lists/*_Packages*" >/dev/null; then
    update_lists
  fi
  compgen -G "${apt_dir}/lists/*_Packages*" >/dev/null || die "no package lists from ${mirror} (is it reachable?)"
}
