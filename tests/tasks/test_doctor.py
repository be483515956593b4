"""`tasks.py doctor` on the lab: read-only, per device, each failure with its fix."""

import re

import pytest
from click.testing import CliRunner

from tasks import cli
from tests.support import assert_idempotent

pytestmark = pytest.mark.lab


def doctor(lab):
    return CliRunner().invoke(cli, ["doctor", "--inventory", str(lab.inventory_file)])


def states(output) -> dict[tuple[str, str], str]:
    """(device, check) -> ok/FAIL, from doctor's table."""
    table = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 3 and cells[2] in ("ok", "FAIL"):
            table[(cells[0], cells[1])] = cells[2]
    return table


def test_reports_what_is_right_and_what_is_wrong(lab, converged_gpu_node, converged_potato, inventory):
    result = doctor(lab)
    table = states(result.output)
    for device in ("gpu-node", "potato", "pixel"):
        assert table[(device, "SSH with the pinned host key")] == "ok", result.output
    for check in ("systemd is PID 1 in WSL", "GPU visible", "model cache disk"):
        assert table[("gpu-node", check)] == "ok", result.output
    for check in ("node exporter and apt cache running", "apt cache disk"):
        assert table[("potato", check)] == "ok", result.output
    assert "NVIDIA GeForce RTX 4070 Ti" in result.output
    # the lab's k3s is a stand-in: kubectl cannot answer, and doctor says what to do
    assert table[("gpu-node", "k3s Ready")] == "FAIL" and "sudo journalctl -u k3s -e" in result.output
    assert result.exit_code == 1
    assert_idempotent("site", inventory)  # doctor changed nothing


def test_a_stopped_service_and_a_missing_gpu_are_named_with_their_fix(lab, converged_gpu_node, converged_potato,
                                                                      inventory):
    lab.ssh("potato", "systemctl stop apt-cacher-ng", sudo=True)
    lab.ssh("gpu-node", "mv /usr/lib/wsl/lib/nvidia-smi /usr/lib/wsl/lib/nvidia-smi.away", sudo=True)
    try:
        out = doctor(lab).output
        assert "potato: node exporter and apt cache running: re-run `pyinfra inventory.py deploys/le_potato.py`" in out
        assert "gpu-node: GPU visible: no GPU visible in WSL2" in out and "on Windows install" in out
    finally:
        lab.ssh("gpu-node", "mv /usr/lib/wsl/lib/nvidia-smi.away /usr/lib/wsl/lib/nvidia-smi", sudo=True)
        lab.ssh("potato", "systemctl start apt-cacher-ng", sudo=True)


def test_an_unreachable_device_fails_with_its_fix(lab, tmp_path):
    from tests.support import inventory_variant

    variant = inventory_variant(lab, tmp_path, {"pixel": {"ssh_hostname": "10.77.0.99"}})
    out = CliRunner().invoke(cli, ["doctor", "--inventory", str(variant)]).output
    assert "pixel: SSH with the pinned host key: is it switched on and on the network?" in out
