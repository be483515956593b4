"""The simulated lab itself: what `lab up` builds, that it is idempotent, that host keys
are really checked, and that `lab down` removes everything it made."""

import os
import re
import subprocess

import pytest

from homelab.inventory_loading import load_inventory
from homelab.lab import network
from homelab.lab.system import is_recorded_process_alive
from tests.support import PROJECT_ROOT, run_deploy

pytestmark = pytest.mark.lab


def test_lab_inventory_mirrors_the_real_one(lab):
    real = load_inventory(PROJECT_ROOT / "inventory.py", cwd=PROJECT_ROOT)
    simulated = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
    for group in ("gpu_nodes", "le_potato", "termux_phones", "ipads", "macbook"):
        assert sorted(h.name for h in simulated.get_group(group)) == sorted(h.name for h in real.get_group(group))
    gpu = simulated.get_host("gpu-node").data
    assert gpu.ssh_hostname.startswith("10.77.0.") and gpu.ssh_strict_host_key_checking == "yes"
    assert os.path.exists(gpu.ssh_known_hosts_file)


def test_up_again_keeps_the_running_hosts(lab):
    before = {name: record["process"] for name, record in lab.state()["hosts"].items()}
    lab.up(log=lambda m: None)
    after = {name: record["process"] for name, record in lab.state()["hosts"].items()}
    assert before == after
    assert all(is_recorded_process_alive(p) for p in after.values())


def test_each_host_has_its_own_namespace_and_address(lab):
    for name, record in lab.state()["hosts"].items():
        spec = record["spec"]
        assert network.netns_exists(spec["netns"])
        addresses = lab.ssh(name, "ip -4 -o addr show dev eth0").stdout
        assert f"inet {spec['address']}/24" in addresses
        assert lab.ssh(name, "cat /proc/1/comm").stdout.strip() == "systemd"


def test_termux_like_host(lab):
    spec = lab.spec("pixel")
    assert spec.ssh_port == 8022
    out = lab.ssh("pixel", 'id -u; echo "$HOME|$PREFIX|$TMPDIR"; test -d "$PREFIX/bin" && echo prefix-ok; '
                           "sudo -n true 2>/dev/null || echo no-sudo; "
                           "cat /etc/os-release 2>/dev/null || echo no-os-release")
    lines = out.stdout.split()
    assert lines[0] != "0"
    assert lines[1] == ("/data/data/com.termux/files/home|/data/data/com.termux/files/usr|"
                        "/data/data/com.termux/files/usr/tmp")
    assert lines[2:] == ["prefix-ok", "no-sudo", "no-os-release"]


def test_a_wrong_host_key_is_refused_and_that_host_fails_alone(lab, tmp_path):
    """Host keys are verified: a changed key for gpu-node stops that host only."""
    known = lab.known_hosts.read_text()
    gpu_address = lab.spec("gpu-node").address
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "impostor"], check=True)
    impostor = (tmp_path / "impostor.pub").read_text().split()[:2]
    forged = re.sub(rf"^{re.escape(gpu_address)} .*$", f"{gpu_address} {' '.join(impostor)}", known, flags=re.M)
    assert forged != known
    (tmp_path / "known_hosts").write_text(forged)
    inventory = tmp_path / "inventory.py"
    inventory.write_text(lab.inventory_file.read_text().replace(str(lab.known_hosts), str(tmp_path / "known_hosts")))
    run = run_deploy("base", inventory, limit=["gpu-node", "potato"])
    assert run.returncode == 1, run.explain()
    assert run.failed_hosts == ["gpu-node"], run.explain()
    assert "gpu-node" in run.stderr and re.search(r"host key|Host key|not found in known_hosts", run.stderr)
    assert run.totals["error"] == 0 and run.totals["no_change"] + run.totals["success"] > 0


def test_a_device_that_cannot_be_reached_fails_alone(lab, tmp_path):
    """A phone that is switched off: its host fails, the others finish, the summary names it."""
    from tests.support import inventory_variant

    variant = inventory_variant(lab, tmp_path, {"pixel": {"ssh_hostname": "10.77.0.99"}})
    run = run_deploy("base", variant)
    assert run.returncode == 1 and run.failed_hosts == ["pixel"], run.explain()
    assert run.totals["error"] == 0 and run.totals["no_change"] + run.totals["success"] > 0
    assert "pixel" in run.stderr


@pytest.mark.runs_last
def test_down_removes_everything_it_made_and_up_brings_it_back(lab):
    state = lab.state()
    lab.down(log=lambda m: None)
    for record in state["hosts"].values():
        assert not is_recorded_process_alive(record["process"])
        assert not network.netns_exists(record["spec"]["netns"])
        assert not os.path.ismount(os.path.join("/var/lib/homelab-lab/hosts", record["spec"]["name"], "root"))
    assert not is_recorded_process_alive(state["apt_proxy"])
    assert subprocess.run(["ip", "link", "show", network.BRIDGE], capture_output=True).returncode != 0
    assert not lab.inventory_file.exists()
    lab.up(log=lambda m: None)
    assert lab.is_up() and all(row["ssh"] for row in lab.status())
