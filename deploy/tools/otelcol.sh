#!/usr/bin/env bash
# Build a real OpenTelemetry Collector for the deploy tests, from Debian's Go sources, and link it as
# <repo>/.tools/bin/otelcorecol. No Docker, no Go module proxy, no system changes.
#
# Debian sid packages the Collector's sources (golang-opentelemetry-collector-dev) and every Go library they import,
# but no command and no builder: deploy/tools/otelcorecol/main.go wires the component factories. This script
#   1. resolves the package's Depends closure (~216 golang-*-dev packages) and the Go toolchain from the private
#      apt lists (common.sh), and downloads the .debs (~250 MB) once;
#   2. unpacks only the packages main.go actually imports (~57 of them, ~360 MB instead of ~2 GB): `go list`
#      reports the missing import paths, an index of each .deb's directories says which package has them, and
#      that repeats until nothing is missing;
#   3. compiles in GOPATH mode (GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0), `nice`d, on the cores
#      there are.
# The result lives in the per-user cache, keyed by the exact versions of every input package, main.go and this
# script: a second run (or a fresh clone on the same machine) only checks and links it, in well under a second.
# Everything is written to a temp dir and renamed into place, so an interrupted or failed run leaves nothing a later
# run could mistake for a build.
#
# Cold: ~2.5 minutes on 2 cores (most of it compiling). The Go build cache is kept, so a changed main.go rebuilds in
# seconds. Disk: ~250 MB .debs + ~280 MB toolchain + ~470 MB Go build cache + ~30 MB per build, under
# ${OLLAMA_OTEL_TOOLS_CACHE}/otelcol (delete that folder to reclaim it).
#
# Usage: bash deploy/tools/otelcol.sh [--refresh]    (install.sh runs it; --refresh: update the lists, re-resolve)
# Env:   the same as install.sh (OLLAMA_OTEL_TOOLS_DIR, OLLAMA_OTEL_TOOLS_CACHE, DEBIAN_MIRROR)
set -euo pipefail

# shellcheck source=deploy/tools/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"

collector_pkg=golang-opentelemetry-collector-dev
main_go="${repo_root}/deploy/tools/otelcorecol/main.go"
store="${cache}/otelcol"
link="${tools}/bin/otelcorecol"
recipe="$(cat "${main_go}" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"

runs() { "$1" --version >/dev/null 2>&1; }

# A build made from this recipe, linked and working: nothing to do (no apt, no network).
linked_build="$(dirname "$(readlink -f "${link}" 2>/dev/null || echo /nonexistent/x)")"
if [ "${refresh}" = 0 ] && [ "$(cat "${linked_build}/RECIPE" 2>/dev/null)" = "${recipe}" ] && runs "${link}"; then
  log "otelcorecol up to date: $("${link}" --version) (${linked_build})"
  exit 0
fi

mkdir -p "${store}/debs" "${store}/index"
exec 9>"${store}/lock"
if ! flock -n 9; then
  log "waiting for another otelcol.sh run to finish"
  flock 9
fi
# Holding the lock, no other run is building: leftovers are from interrupted runs.
rm -rf "${store}"/.build.* "${store}"/.go.* "${store}"/debs/.partial.*

link_build() {
  mkdir -p "${tools}/bin"
  ln -sfn "$1/otelcorecol" "${tools}/bin/.otelcorecol.tmp"
  mv -Tf "${tools}/bin/.otelcorecol.tmp" "${link}"
  log "otelcorecol: $("${link}" --version) -> ${link} ($1)"
}

# 1. The inputs: the collector's Depends closure (Go libraries only) and the Go toolchain, at their candidate
#    versions in the private lists (which change only on --refresh).
ensure_lists
closure="$(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "${collector_pkg}")" || die "apt-cache depends ${collector_pkg} failed"
go_pkg="$(grep -E '^golang-1\.[0-9]+-go$' <<<"${closure}" | sort -V | tail -n1)"
[ -n "${go_pkg}" ] || die "no Go toolchain (golang-1.NN-go) in the Depends closure of ${collector_pkg}"
go_series="${go_pkg#golang-}"
go_series="${go_series%-go}"
mapfile -t packages < <({
  grep -E '^golang-[^ <>]+-dev$' <<<"${closure}"
  echo "${go_pkg}"
  echo "golang-${go_series}-src"
} | sort -u)

# "package version pool-file-name" for each, from the candidate records.
records="$(apt-cache "${apt_opts[@]}" show --no-all-versions "${packages[@]}" | awk '
  /^Package: / { p = $2 } /^Version: / { v = $2 }
  /^Filename: / { n = split($2, f, "/"); print p, v, f[n] }' | sort -u)"
[ "$(wc -l <<<"${records}")" = "${#packages[@]}" ] || die "expected ${#packages[@]} package records, got: ${records}"
version_of() { awk -v p="$1" '$1 == p { print $2 }' <<<"${records}"; }
deb_of() { awk -v p="$1" '$1 == p { print $3 }' <<<"${records}"; }

collector_version="$(version_of "${collector_pkg}" | sed -E 's/^[0-9]+://; s/-[^-]+$//; s/\+ds[0-9]*$//')"
key="$( (
  echo "${recipe}"
  cut -d' ' -f1,2 <<<"${records}"
) | sha256sum | cut -c1-12)"
build="${store}/otelcorecol-${collector_version}-${key}"

if runs "${build}/otelcorecol"; then
  log "otelcorecol ${collector_version}: cached build for these inputs"
  link_build "${build}"
  exit 0
fi

# A link to a build of other inputs must not outlive a failed build: the tests would run the wrong collector.
rm -f "${link}"
log "building the OpenTelemetry Collector ${collector_version} from Debian's sources (the first build on a machine takes ~3 min)"
started=${SECONDS}

# 2. Download what the cache lacks (~250 MB the first time), into a temp dir first.
missing=()
for pkg in "${packages[@]}"; do
  [ -s "${store}/debs/$(deb_of "${pkg}")" ] || missing+=("${pkg}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "downloading ${#missing[@]} of ${#packages[@]} packages"
  partial="$(mktemp -d "${store}/debs/.partial.XXXXXX")"
  specs=()
  for pkg in "${missing[@]}"; do specs+=("${pkg}=$(version_of "${pkg}")"); done
  (cd "${partial}" && apt-get "${apt_opts[@]}" -qq download "${specs[@]}" >&2) ||
    { update_lists && (cd "${partial}" && apt-get "${apt_opts[@]}" -qq download "${specs[@]}" >&2); } ||
    die "apt-get download failed (run with --refresh if the mirror no longer has these versions)"
  for pkg in "${missing[@]}"; do
    # apt-get names a file with an epoch "pkg_1%3a2.0-1_all.deb"; the pool (and the cache) name has none.
    got=("${partial}/${pkg}"_*.deb)
    [ -s "${got[0]}" ] || die "apt-get download did not produce ${pkg}"
    find "${store}/debs" -maxdepth 1 -name "${pkg}_*.deb" -delete
    mv "${got[0]}" "${store}/debs/$(deb_of "${pkg}")"
  done
  rmdir "${partial}"
  log "downloaded in $((SECONDS - started)) s"
fi

# The Go toolchain, unpacked once per version.
goroot_dir="${store}/${go_pkg}-$(version_of "${go_pkg}")"
if [ ! -x "${goroot_dir}/usr/lib/go-${go_series}/bin/go" ]; then
  tmp="$(mktemp -d "${store}/.go.XXXXXX")"
  dpkg -x "${store}/debs/$(deb_of "${go_pkg}")" "${tmp}"
  dpkg -x "${store}/debs/$(deb_of "golang-${go_series}-src")" "${tmp}"
  rm -rf "${goroot_dir}"
  mv -T "${tmp}" "${goroot_dir}"
fi
goroot="${goroot_dir}/usr/lib/go-${go_series}"

work="$(mktemp -d "${store}/.build.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

# Which .deb has which Go package directory (and the /vN symlinks some ship), indexed once per .deb.
for pkg in "${packages[@]}"; do
  deb="$(deb_of "${pkg}")"
  [ -f "${store}/index/${deb}.dirs" ] && continue
  dpkg-deb -c "${store}/debs/${deb}" | awk -v p="${pkg}" '$1 ~ /^[dl]/ && $6 ~ /^\.\/usr\/share\/gocode\/src\/./ {
      path = $6; sub(/^\.\/usr\/share\/gocode\/src\//, "", path); sub(/\/$/, "", path); print p, path }' \
    >"${work}/index.tmp"
  mv "${work}/index.tmp" "${store}/index/${deb}.dirs"
done
for pkg in "${packages[@]}"; do cat "${store}/index/$(deb_of "${pkg}").dirs"; done >"${work}/index"

# A clean environment for the go command: nothing from the caller's Go settings, no network, no module mode, no
# telemetry files in the caller's home.
mkdir -p "${work}/gopath/src/otelcorecol" "${work}/root" "${work}/config"
cp "${main_go}" "${work}/gopath/src/otelcorecol/main.go"
go_cmd=(env -i "PATH=${PATH}" "HOME=${HOME}" "XDG_CONFIG_HOME=${work}/config" "GOROOT=${goroot}"
  "GOPATH=${work}/gopath:${work}/root/usr/share/gocode" "GOCACHE=${store}/gocache" GOENV=off GOFLAGS=-buildvcs=false
  GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOOS=linux GOARCH=amd64 "${goroot}/bin/go")

# 3. Unpack only what is imported: `go list` names the missing import paths; Debian installs a module's /vN
#    without the suffix (GOPATH mode finds it through the module's go.mod), so look both up.
: >"${work}/unpacked"
for round in $(seq 1 40); do
  missing_paths="$(cd "${work}/gopath/src/otelcorecol" &&
    "${go_cmd[@]}" list -e -deps -f '{{with .Error}}{{$.ImportPath}}{{"\n"}}{{end}}' . | sort -u)"
  [ -z "${missing_paths}" ] && break
  wanted="$(sed -E 'p; s#/v[0-9]+(/|$)#\1#' <<<"${missing_paths}" |
    awk 'NR == FNR { want[$1] = 1; next } ($2 in want) { print $1 }' - "${work}/index" | sort -u)"
  new="$(comm -23 <(echo "${wanted}") <(sort "${work}/unpacked") | sed '/^$/d')"
  if [ -z "${new}" ]; then
    (cd "${work}/gopath/src/otelcorecol" && "${go_cmd[@]}" list -e -deps -f '{{with .Error}}{{.}}{{"\n"}}{{end}}' .) >&2
    die "no Debian package in the closure provides: $(tr '\n' ' ' <<<"${missing_paths}")"
  fi
  for pkg in ${new}; do
    dpkg -x "${store}/debs/$(deb_of "${pkg}")" "${work}/root"
    echo "${pkg}" >>"${work}/unpacked"
  done
done
[ -z "${missing_paths}" ] || die "imports still unresolved after ${round} rounds"
log "unpacked the $(wc -l <"${work}/unpacked") imported packages (of ${#packages[@]}) in ${round} rounds"

compile_started=${SECONDS}
mkdir -p "${work}/out"
(cd "${work}/gopath/src/otelcorecol" && nice -n 10 "${go_cmd[@]}" build -p "$(nproc)" -trimpath \
  -ldflags "-s -w -X main.version=${collector_version}" -o "${work}/out/otelcorecol" .) ||
  die "go build failed"
"${work}/out/otelcorecol" components >"${work}/out/COMPONENTS" || die "the built otelcorecol does not run"
echo "${recipe}" >"${work}/out/RECIPE"
{
  echo "otelcorecol ${collector_version}, built $(date -u +%FT%TZ) in $((SECONDS - started)) s" \
    "($((SECONDS - compile_started)) s compiling) on $(nproc) cores"
  echo "go: ${go_pkg} $(version_of "${go_pkg}")"
  echo "compiled in (Debian packages):"
  sort "${work}/unpacked" | while read -r pkg; do echo "  ${pkg} $(version_of "${pkg}")"; done
} >"${work}/out/BUILDINFO"
rm -rf "${build}"
mv -T "${work}/out" "${build}"
log "built in $((SECONDS - started)) s ($((SECONDS - compile_started)) s compiling)"
link_build "${build}"

# Keep the three newest builds (other worktrees may link older recipes; a rebuild of those takes seconds).
find "${store}" -maxdepth 1 -name 'otelcorecol-*' -type d -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- |
  xargs -r rm -rf
