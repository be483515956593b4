"""The GPU check, on the GPU-node lab host (its /dev/dxg and nvidia-smi are stand-ins)."""

import pytest

from homelab.components.gpu_check import gpu_problem
from tests.support import run_deploy

SMI = "/usr/lib/wsl/lib/nvidia-smi"
VISIBLE = {"devices": ["/dev/dxg"], "smi": SMI, "name": "NVIDIA GeForce RTX 4070 Ti", "memory_mib": 12282}


@pytest.mark.lab
def test_gpu_visible_passes(lab, converged_gpu_node):
    """A visible GPU lets the deploy go on past the check to the NVIDIA toolkit and k3s."""
    assert "refused" not in converged_gpu_node.stderr
    changed = converged_gpu_node.changed_operations("gpu-node")
    assert [op for op in changed if op.startswith("NVIDIA Container Toolkit")] and \
        [op for op in changed if op.startswith("k3s install")], changed
    assert lab.ssh("gpu-node", f"{SMI} --query-gpu=name,memory.total --format=csv,noheader").stdout.startswith(
        "NVIDIA GeForce RTX 4070 Ti")


@pytest.mark.lab
def test_missing_gpu_is_refused_with_the_windows_side_fix(lab, converged_gpu_node, inventory):
    lab.ssh("gpu-node", f"mv {SMI} {SMI}.away", sudo=True)
    try:
        run = run_deploy("site", inventory, limit=["gpu-node", "potato"])
        assert run.returncode == 1 and run.failed_hosts == ["gpu-node"], run.explain()
        assert "no GPU visible in WSL2" in run.stderr and "on Windows install the current NVIDIA" in run.stderr
        assert "potato" in str(run.payload["results"]["operations"])
    finally:
        lab.ssh("gpu-node", f"mv {SMI}.away {SMI}", sudo=True)


def test_a_linux_driver_inside_wsl_is_refused_with_the_purge_command():
    problem = gpu_problem(VISIBLE, wsl=True, packages={"nvidia-utils-550": ["550.1"], "curl": ["8"]})
    assert "a Linux NVIDIA driver is installed inside WSL (nvidia-utils-550)" in problem
    assert "sudo apt purge nvidia-utils-550" in problem
    assert gpu_problem(VISIBLE, wsl=True, packages={"libnvidia-container1": ["1.18.1-1"]}) is None


def test_bare_metal_needs_dev_nvidia0():
    assert "/dev/nvidia0" in gpu_problem(VISIBLE, wsl=False, packages={})
    bare = dict(VISIBLE, devices=["/dev/nvidia0"], smi="/usr/bin/nvidia-smi")
    assert gpu_problem(bare, wsl=False, packages={}) is None
    assert "does not report a GPU" in gpu_problem(dict(bare, name=None), wsl=False, packages={})
