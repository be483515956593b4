"""The common base on the lab's Debian hosts, over real SSH."""

import pytest

from tests.support import assert_idempotent, assert_repairs

pytestmark = pytest.mark.lab
SSH_HOSTS = ["gpu-node", "potato"]


@pytest.fixture(scope="module")
def converged(converged_gpu_node, converged_potato):
    """Each host's fresh run is the session's own deploy of it, which starts with the base
    (a reset and a second fresh run here cost most of a minute)."""
    return {"gpu-node": converged_gpu_node, "potato": converged_potato}


def test_converges_on_fresh_hosts(lab, converged):
    for name in SSH_HOSTS:
        # the hostname may be right already on a fresh container: read back instead
        assert set(converged[name].changed_operations(name)) >= {"Common base | Timezone",
                                                                 "Common base | Managed-by marker"}
        if name != "gpu-node":  # WSL: the name comes from /etc/wsl.conf at WSL's next start (test_wsl)
            assert lab.ssh(name, "hostname").stdout.strip() == name
            assert lab.ssh(name, "cat /etc/hostname").stdout == f"{name}\n"
        assert lab.ssh(name, "readlink -f /etc/localtime").stdout.strip() == "/usr/share/zoneinfo/Europe/Berlin"
        marker = lab.ssh(name, "cat /etc/homelab-managed").stdout
        assert f"host: {name}" in marker and "role:" in marker
        proxy = lab.ssh(name, "cat /etc/apt/apt.conf.d/01homelab-proxy").stdout
        assert 'Acquire::http::Proxy "http://10.77.0.1:3142";' in proxy
        # sudo resolves the new hostname (no "unable to resolve host" warning)
        assert "unable to resolve" not in lab.ssh(name, "sudo -n true").stderr


def test_the_base_alone_changes_nothing_on_converged_hosts(converged, inventory):
    assert_idempotent("base", inventory)


def test_manual_changes_are_repaired(lab, converged, inventory):
    lab.ssh("potato", "echo 'hand edit' >> /etc/homelab-managed && ln -sf /usr/share/zoneinfo/UTC /etc/localtime"
            " && rm /etc/apt/apt.conf.d/01homelab-proxy", sudo=True)
    run = assert_repairs("base", inventory, "potato")
    assert run.changed_operations("gpu-node") == [], "only the host that was changed by hand is repaired"
    assert set(run.changed_operations("potato")) == {
        "Common base | Managed-by marker", "Common base | Timezone", "Common base | apt proxy"}
    assert "hand edit" not in lab.ssh("potato", "cat /etc/homelab-managed").stdout
    assert lab.ssh("potato", "readlink -f /etc/localtime").stdout.strip().endswith("Europe/Berlin")


def test_apt_fetches_through_the_configured_proxy(lab, converged):
    """apt on a lab host has no route out: an install works only through the proxy."""
    lab.ssh("gpu-node", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq", sudo=True)
    assert lab.ssh("gpu-node", "jq --version").stdout.startswith("jq-")
