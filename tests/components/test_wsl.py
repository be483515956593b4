"""WSL2 preparation on the GPU-node lab host, a WSL2 stand-in (`wsl: True` in the lab
inventory: the lab's kernel cannot say "microsoft")."""

import base64

import pytest

from homelab.components.wsl import systemd_missing_reason
from tests.support import assert_converges, assert_repairs, inventory_variant, run_deploy

pytestmark = pytest.mark.lab


def test_wsl_conf_enables_systemd_and_names_the_host(lab, converged_gpu_node):
    conf = lab.ssh("gpu-node", "cat /etc/wsl.conf").stdout
    assert "[boot]\nsystemd=true" in conf and "hostname=gpu-node" in conf
    assert "appendWindowsPath=false" in conf


def test_windows_script_carries_the_inventory_values(lab, converged_gpu_node, tmp_path):
    script = (lab.state_dir / "build" / "gpu-node" / "windows-setup.ps1").read_text()
    assert "$Distribution = 'Ubuntu-22.04'" in script
    assert "$Ports = @(22, 6443, 8080, 8081)" in script
    # the node exporter and the gateway's /federate door: from the Le Potato's watcher only
    assert "$WatcherPorts = @(9100, 9180)" in script and "$Watchers = @('10.77.0.11')" in script
    assert "-LocalPorts $Port -RemoteAddresses $Watchers" in script
    assert ".wslconfig" in script and "Set-Content" not in script, "the deploy owns .wslconfig, not the script"
    assert "{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}" in script and "New-NetFirewallHyperVRule" in script
    assert "New-ScheduledTaskTrigger -AtStartup" in script and "10.77.0.10" in script
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"gateway_port": 8443, "wsl_distribution": "Ubuntu"}})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        script = (lab.state_dir / "build" / "gpu-node" / "windows-setup.ps1").read_text()
        assert "$Ports = @(22, 6443, 8443, 8081)" in script and "$Distribution = 'Ubuntu'" in script
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")


WSLCONFIG = "/mnt/c/Users/owner/.wslconfig"  # the lab's stand-in for the Windows drive


def wslconfig(lab) -> str:
    """The file byte for byte (ssh's text mode would turn CRLF into LF)."""
    return base64.b64decode(lab.ssh("gpu-node", f"base64 -w0 {WSLCONFIG}").stdout).decode()


def test_wslconfig_gets_the_plan_and_keeps_the_owners_keys(lab, converged_gpu_node):
    """The lab's Windows drive stand-in starts with the owner's own .wslconfig (CRLF, keys of
    their own, a `memory` of theirs): the deploy merges its keys in and leaves the rest."""
    from homelab import capacity
    from homelab.inventory_loading import load_inventory
    from tests.support import PROJECT_ROOT

    plan = capacity.plan_for(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT))["gpu-node"]
    text = wslconfig(lab)
    assert text.startswith("# my settings\r\n[wsl2]\r\nguiApplications=false\r\n"), text
    assert f"memory={plan.wsl_memory_gib}GB\r\n" in text and "memory = 8GB" not in text
    assert f"processors={plan.wsl_processors}\r\n" in text and "swap=2GB\r\n" in text
    assert "networkingMode=mirrored\r\n" in text and "vmIdleTimeout=-1\r\n" in text
    assert "[experimental]\r\nsparseVhd=true\r\nautoMemoryReclaim=gradual\r\n" in text
    assert text.count("[wsl2]") == 1 and "\n" not in text.replace("\r\n", "")


def test_wslconfig_edits_by_the_owner_survive_and_drift_is_repaired(lab, converged_gpu_node, inventory):
    lab.ssh("gpu-node", f"sed -i 's/^processors=.*/processors=2\\r/; s/^guiApplications=false/guiApplications=true/' "
                        f"{WSLCONFIG} && printf 'kernelCommandLine=quiet\\r\\n' >> {WSLCONFIG}", sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert [op for op in run.changed_operations("gpu-node") if ".wslconfig" in op]
    text = wslconfig(lab)
    assert "processors=2\r\n" not in text and "guiApplications=true\r\n" in text
    assert text.endswith("kernelCommandLine=quiet\r\n")


def test_several_windows_users_ask_for_windows_profile_dir(lab, converged_gpu_node, tmp_path):
    lab.ssh("gpu-node", "mkdir -p /mnt/c/Users/guest", sudo=True)
    try:
        run = run_deploy("gpu_node", lab.inventory_file, limit="gpu-node")
        assert run.returncode == 1 and run.failed_hosts == ["gpu-node"]
        assert "set windows_profile_dir" in run.stderr and "/mnt/c/Users/guest" in run.stderr
        variant = inventory_variant(lab, tmp_path, {"gpu-node": {"windows_profile_dir": "/mnt/c/Users/owner"}})
        assert_converges("gpu_node", variant, limit="gpu-node", expect_changes=None)
    finally:
        lab.ssh("gpu-node", "rmdir /mnt/c/Users/guest", sudo=True)


def test_wsl_without_systemd_stops_this_host_alone_after_writing_wsl_conf(lab, converged_gpu_node, inventory):
    """WSL before its first `wsl --shutdown`: PID 1 is not systemd (a STAND-IN here: the
    lab host's /proc/1/comm says "init"). The deploy writes /etc/wsl.conf and the Windows
    script, then stops this host with the fix; the Le Potato goes on."""
    lab.ssh("gpu-node", "echo init > /run/homelab-fake-comm && mount --bind /run/homelab-fake-comm /proc/1/comm && "
                        "sed -i 's/^systemd=true/systemd=false/' /etc/wsl.conf", sudo=True)
    try:
        run = run_deploy("site", inventory, limit=["gpu-node", "potato"])
    finally:
        lab.ssh("gpu-node", "umount /proc/1/comm", sudo=True)
    assert run.returncode == 1 and run.failed_hosts == ["gpu-node"], run.explain()
    assert "stopped: systemd is not PID 1 in WSL yet (PID 1 is init)" in run.stderr
    assert "`wsl --shutdown`" in run.stderr
    changed = run.changed_operations("gpu-node")
    assert "deploys/gpu_node.py | WSL2 | /etc/wsl.conf: systemd, hostname" in changed, changed
    assert not [op for op in changed if op.split(" | ")[1] in ("GPU check", "NVIDIA Container Toolkit",
                                                                "k3s config", "k3s install", "AI stack manifests")]
    assert "systemd=true" in lab.ssh("gpu-node", "cat /etc/wsl.conf").stdout
    assert "potato" not in run.failed_hosts and run.totals["error"] >= 1
    assert_converges("gpu_node", inventory, limit="gpu-node", expect_changes=None)


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
