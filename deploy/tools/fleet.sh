#!/usr/bin/env bash
# The tools that check deploy/helm (the fleet on Kubernetes), built or fetched at pinned versions into the per-user
# cache and linked into <repo>/.tools/bin (install.sh runs this last):
#   - helm, kubeconform       built from the Go module proxy (`go install module@version`, the modules' own go.sum)
#   - otelcol-fleet           the Collector with exactly the chart's components, built by the Collector's builder
#                             (ocb, itself from the Go module proxy) from otelcol-fleet/builder.yaml
#   - .tools/k8s-schemas/     JSON schemas for kubeconform -strict: Kubernetes' from the PyPI package
#                             kubernetes-validate (pip download of a pinned wheel), the Prometheus Operator's CRDs
#                             (monitoring.coreos.com) converted by kubeconform's own openapi2jsonschema.py from the
#                             CRD manifests in the pinned prometheus-operator Go module
# Needs Go (PATH or /usr/local/go/bin), python3 with pip and PyYAML. Each build is keyed by its inputs; a second run
# only checks and links (no network, no Go needed). Cold: deploy/README.md, "The fleet tools and the simulation".
#
# Usage: bash deploy/tools/fleet.sh     Env: as install.sh (OLLAMA_OTEL_TOOLS_DIR, OLLAMA_OTEL_TOOLS_CACHE)
set -euo pipefail

# shellcheck source=deploy/tools/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"

helm_module=helm.sh/helm/v3
helm_version=v3.22.1
kubeconform_module=github.com/yannh/kubeconform
kubeconform_version=v0.8.0
ocb_version=v0.160.0
k8s_schemas_wheel=kubernetes-validate==1.37.0
k8s_version=1.37.0
k8s_schemas_sha256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
promop_module=github.com/prometheus-operator/prometheus-operator
promop_version=v0.85.0

store="${cache}/fleet"
builder_yaml="${repo_root}/deploy/tools/otelcol-fleet/builder.yaml"
mkdir -p "${store}" "${tools}/bin"
exec 9>"${store}/lock"
flock 9
# Holding the lock, no other run is building: temp dirs left are from interrupted runs.
find "${store}" -maxdepth 1 -name '.*.??????' -exec rm -rf {} +

# Go is needed only to build (a machine with every build cached runs without it).
go_bin="$(command -v go || echo /usr/local/go/bin/go)"
need_go() { [ -x "${go_bin}" ] || die "no Go toolchain (go in PATH or /usr/local/go/bin/go) to build $1"; }
# Module and build caches of our own, outside the repo; the proxy's checksums are checked against sum.golang.org.
go_env=(env "GOMODCACHE=${store}/gomod" "GOCACHE=${store}/gocache" GOFLAGS=-trimpath CGO_ENABLED=0
  GOTOOLCHAIN=local GO111MODULE=on)

link() { # link NAME TARGET
  ln -sfn "$2" "${tools}/bin/.$1.tmp"
  mv -Tf "${tools}/bin/.$1.tmp" "${tools}/bin/$1"
}

# go_tool NAME PACKAGE VERSION: `go install PACKAGE@VERSION` into ${store}/NAME-VERSION, linked as .tools/bin/NAME.
go_tool() {
  local name="$1" pkg="$2" version="$3" dir="${store}/$1-$3" binary="${2##*/}"
  if [ ! -x "${dir}/${binary}" ]; then
    local started=${SECONDS} tmp
    need_go "${name}"
    log "building ${name} ${version} from the Go module proxy (${pkg})"
    tmp="$(mktemp -d "${store}/.${name}.XXXXXX")"
    GOBIN="${tmp}" nice -n 10 "${go_env[@]}" "${go_bin}" install "${pkg}@${version}" || die "go install ${pkg}@${version} failed"
    rm -rf "${dir}"
    mv -T "${tmp}" "${dir}"
    log "built ${name} ${version} in $((SECONDS - started)) s"
  fi
  link "${name}" "${dir}/${binary}"
}

go_tool helm "${helm_module}/cmd/helm" "${helm_version}"
go_tool kubeconform "${kubeconform_module}/cmd/kubeconform" "${kubeconform_version}"
go_tool ocb go.opentelemetry.io/collector/cmd/builder "${ocb_version}"

# The fleet collector, keyed by the builder manifest and ocb's version.
key="$(cat "${builder_yaml}" <(echo "${ocb_version}") | sha256sum | cut -c1-12)"
collector="${store}/otelcol-fleet-${key}"
if ! "${collector}/otelcol-fleet" --version >/dev/null 2>&1; then
  started=${SECONDS}
  need_go otelcol-fleet
  # A link to a build of another manifest must not outlive a failed build: the tests would validate with it.
  rm -f "${tools}/bin/otelcol-fleet"
  log "building otelcol-fleet with ocb ${ocb_version} (k8s_attributes pulls in client-go: about 7 min cold on 2 busy cores)"
  tmp="$(mktemp -d "${store}/.otelcol-fleet.XXXXXX")"
  cp "${builder_yaml}" "${tmp}/builder.yaml"
  (cd "${tmp}" && nice -n 10 "${go_env[@]}" PATH="$(dirname "${go_bin}"):${PATH}" "${tools}/bin/ocb" \
    --config builder.yaml >build.log 2>&1) || {
    tail -n 40 "${tmp}/build.log" >&2
    die "ocb failed to build otelcol-fleet"
  }
  "${tmp}/out/otelcol-fleet" components >"${tmp}/out/COMPONENTS" || die "the built otelcol-fleet does not run"
  rm -rf "${collector}"
  mv -T "${tmp}/out" "${collector}"
  rm -rf "${tmp}"
  log "built otelcol-fleet in $((SECONDS - started)) s"
fi
link otelcol-fleet "${collector}/otelcol-fleet"

# Kubernetes' schemas (files sharing one _definitions.json), strict variant, one version: ${schemas}/kubernetes.
schemas="${tools}/k8s-schemas"
stamp="kubernetes ${k8s_version} (${k8s_schemas_wheel}); prometheus-operator ${promop_version}; in ${schemas}"
if [ "$(cat "${schemas}/VERSIONS" 2>/dev/null)" != "${stamp}" ]; then
  wheel_dir="${store}/wheels"
  mkdir -p "${wheel_dir}"
  wheel="${wheel_dir}/kubernetes_validate-${k8s_version}-py3-none-any.whl"
  [ -s "${wheel}" ] ||
    python3 -m pip download -q --no-deps --only-binary=:all: "${k8s_schemas_wheel}" -d "${wheel_dir}" ||
    die "pip download ${k8s_schemas_wheel} failed"
  echo "${k8s_schemas_sha256}  ${wheel}" | sha256sum -c --quiet - ||
    die "${wheel} is not the pinned wheel (sha256 ${k8s_schemas_sha256}); delete it and run again"
  rm -rf "${schemas}.tmp"
  mkdir -p "${schemas}.tmp/wheel" "${schemas}.tmp/crds/monitoring.coreos.com"
  (cd "${schemas}.tmp/wheel" && python3 -m zipfile -e "${wheel}" . &&
    mv "kubernetes_validate/kubernetes-json-schema/v${k8s_version}-local-strict" ../kubernetes) ||
    die "unpacking ${k8s_schemas_wheel} failed"
  # The package resolves "/api/_definitions.json" itself; kubeconform loads file:// URLs (hence the stamp's path).
  find "${schemas}.tmp/kubernetes" -name '*.json' -exec \
    sed -i "s#\"/api/_definitions.json\##\"file://${schemas}/kubernetes/_definitions.json\##g" {} + ||
    die "rewriting the schema references failed"
  rm -rf "${schemas}.tmp/wheel"

  # The Prometheus Operator's CRDs -> ${schemas}/crds/{group}/{kind}_{version}.json, strict (no unknown fields).
  need_go "the CRD schemas (go mod download)"
  mod_dir() { "${go_env[@]}" "${go_bin}" mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
  promop_dir="$(mod_dir "${promop_module}@${promop_version}")" || die "go mod download ${promop_module}@${promop_version} failed"
  kc_dir="$(mod_dir "${kubeconform_module}@${kubeconform_version}")" || die "go mod download ${kubeconform_module} failed"
  (cd "${schemas}.tmp/crds/monitoring.coreos.com" && FILENAME_FORMAT='{kind}_{version}' DENY_ROOT_ADDITIONAL_PROPERTIES=1 \
    python3 "${kc_dir}/scripts/openapi2jsonschema.py" "${promop_dir}"/example/prometheus-operator-crd/*.yaml >/dev/null) ||
    die "converting the Prometheus Operator CRDs failed"
  echo "${stamp}" >"${schemas}.tmp/VERSIONS"
  rm -rf "${schemas}"
  mv -T "${schemas}.tmp" "${schemas}"
fi
log "fleet tools: helm ${helm_version}, kubeconform ${kubeconform_version}, otelcol-fleet (ocb ${ocb_version}), schemas: $(cat "${schemas}/VERSIONS")"
