"""NVIDIA Container Toolkit on the GPU-node lab host. NVIDIA's repository cannot be
reached here: the lab serves a signed stand-in repository with empty packages at the
pinned version; the real URL, key checksum and repository line are checked from the plan."""

from types import SimpleNamespace

import pytest

from homelab.components.nvidia_container_toolkit import KEYRING, PACKAGES, SOURCES, repo_url_for
from tests.support import assert_repairs, inventory_variant, planned_commands

pytestmark = pytest.mark.lab
LAB_MIRROR_KEYS = ["nvidia_toolkit_repo_url", "nvidia_toolkit_key_url", "nvidia_toolkit_key_sha256",
                   "k3s_release_url", "k3s_sha256"]


def test_all_four_packages_at_the_pinned_version(lab, converged_gpu_node):
    out = lab.ssh("gpu-node", "dpkg-query -W -f='${Package} ${Version}\\n' " + " ".join(PACKAGES)).stdout
    assert sorted(out.split("\n")[:-1]) == sorted(f"{p} 1.18.1-1" for p in PACKAGES)


def test_repository_is_signed_by_its_own_keyring(lab, converged_gpu_node):
    sources = lab.ssh("gpu-node", f"cat {SOURCES}").stdout
    assert f"deb [signed-by={KEYRING}] http://10.77.0.1:8473/nvidia/stable/deb/$(ARCH) /" in sources
    assert lab.ssh("gpu-node", f"stat -c %a {KEYRING}").stdout.strip() == "644"
    assert "nvidia" not in lab.ssh("gpu-node", "ls /etc/apt/trusted.gpg.d/").stdout.lower(), "no global trust"


def test_removed_repository_is_repaired(lab, converged_gpu_node, inventory):
    lab.ssh("gpu-node", f"rm {SOURCES} {KEYRING}", sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert set(run.changed_operations("gpu-node")) == {
        "NVIDIA Container Toolkit | Repository signing key", "NVIDIA Container Toolkit | Repository"}


def test_plan_with_the_real_repository_checks_the_key_by_sha256(lab, converged_gpu_node, tmp_path):
    """NVIDIA's server is not reachable here: checked from the plan, not run."""
    variant = inventory_variant(lab, tmp_path, {}, remove={"gpu-node": LAB_MIRROR_KEYS})
    plan = planned_commands(variant, "gpu_node", "gpu-node")
    key = " ".join(plan["NVIDIA Container Toolkit | Repository signing key"])
    assert "curl -sSLf --retry 3 -o /tmp/" in key and "https://nvidia.github.io/libnvidia-container/gpgkey" in key
    assert "c880576d6cf75a48e5027a871bac70fd0421ab07d2b55f30877b21f1c87959c9" in key and "sha256sum --check" in key
    assert key.index("sha256sum --check") < key.index("mv /tmp/"), "checked before it is moved into place"
    assert plan["NVIDIA Container Toolkit | Repository"], "the repository line changes to NVIDIA's URL"


def test_https_repository_goes_through_the_cache_as_http_https():
    cfg = SimpleNamespace(nvidia_toolkit_repo_url="https://nvidia.github.io/libnvidia-container/stable/deb",
                          apt_proxy_url="http://192.168.1.60:3142")
    assert repo_url_for(cfg) == "http://HTTPS///nvidia.github.io/libnvidia-container/stable/deb"
    assert repo_url_for(SimpleNamespace(**{**vars(cfg), "apt_proxy_url": None})).startswith("https://nvidia")
