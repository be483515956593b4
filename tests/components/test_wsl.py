"""WSL2 preparation on the GPU-node lab host, a WSL2 stand-in (`wsl: True` in the lab
inventory: the lab's kernel cannot say "microsoft")."""

import pytest

from homelab.components.wsl import systemd_missing_reason
from tests.support import assert_converges, inventory_variant, run_deploy

pytestmark = pytest.mark.lab


def test_wsl_conf_enables_systemd_and_names_the_host(lab, converged_gpu_node):
    conf = lab.ssh("gpu-node", "cat /etc/wsl.conf").stdout
    assert "[boot]\nsystemd=true" in conf and "hostname=gpu-node" in conf
    assert "appendWindowsPath=false" in conf


def test_windows_script_carries_the_inventory_values(lab, converged_gpu_node, tmp_path):
    script = (lab.state_dir / "build" / "gpu-node" / "windows-setup.ps1").read_text()
    assert '$Distribution = "Ubuntu-22.04"' in script
    assert "$Ports = @(22, 6443, 8080, 8081)" in script
    assert "networkingMode=mirrored" in script and "vmIdleTimeout=-1" in script
    assert "{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}" in script and "New-NetFirewallHyperVRule" in script
    assert "New-ScheduledTaskTrigger -AtStartup" in script and "10.77.0.10" in script
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"gateway_port": 8443, "wsl_distribution": "Ubuntu"}})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        script = (lab.state_dir / "build" / "gpu-node" / "windows-setup.ps1").read_text()
        assert "$Ports = @(22, 6443, 8443, 8081)" in script and '$Distribution = "Ubuntu"' in script
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")


def test_without_systemd_as_pid_1_the_run_stops_with_the_fix():
    reason = systemd_missing_reason({"init": "init"})
    assert "PID 1 is init" in reason and "`wsl --shutdown`" in reason and "re-run" in reason
    assert systemd_missing_reason({"init": "systemd"}) is None


def test_a_host_that_is_not_wsl_gets_no_wsl_conf_and_needs_a_bare_metal_gpu(lab, converged_gpu_node, tmp_path):
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"wsl": False}})
    run = run_deploy("gpu_node", variant, limit=["gpu-node", "potato"])
    assert run.returncode == 1 and run.failed_hosts == ["gpu-node"], run.explain()
    assert "no NVIDIA GPU visible (/dev/nvidia0 or nvidia-smi missing)" in run.stderr
    assert not [op for op in run.changed_operations("gpu-node") if op.startswith("WSL2")]
