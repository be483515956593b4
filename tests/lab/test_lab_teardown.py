"""`tasks.py lab down` finishes whatever is already gone, a second `down` succeeds, the
mirror's gpg-agent goes with the lab, and a second checkout cannot start a lab over the
first one's. These run without a lab: the network and the hosts are faked where noted."""

import json
import shutil
import subprocess
import time

import pytest

import homelab.lab as lab_module
from homelab.lab import Lab, LabError, network


class FakeIp:
    """`ip` as the kernel answers it while a namespace's veth disappears on its own: the
    veth is still listed, then gone by the time it is deleted (FAKE: no links are made)."""

    def __init__(self, stuck=False):
        self.stuck = stuck  # the delete fails and the link stays
        self.links = {"hlv2"}
        self.namespaces = {"hlab-pixel"}
        self.calls = []

    def __call__(self, *cmd, check=True, input=None):
        self.calls.append(cmd)
        args = list(cmd[1:])
        code, out, err = 0, "", ""
        if args[:2] == ["netns", "list"]:
            out = "\n".join(self.namespaces)
        elif args[:2] == ["netns", "del"]:
            self.namespaces.discard(args[2])
        elif args[:2] == ["link", "show"]:
            code = 0 if args[2] in self.links else 1
        elif args[:2] == ["link", "del"]:
            if not self.stuck:
                self.links.discard(args[2])
            code, err = 1, f'Cannot find device "{args[2]}"'
        if check and code:
            raise LabError(err)
        return subprocess.CompletedProcess(cmd, code, out, err)


def test_a_veth_that_went_with_its_namespace_is_no_error(monkeypatch):
    fake = FakeIp()
    monkeypatch.setattr(network, "run", fake)
    network.remove_namespace("hlab-pixel", "hlv2")  # before: LabError `Cannot find device "hlv2"`
    assert ("ip", "link", "del", "hlv2") in fake.calls and not fake.links and not fake.namespaces


def test_a_link_that_stays_is_still_an_error(monkeypatch):
    fake = FakeIp(stuck=True)
    monkeypatch.setattr(network, "run", fake)
    with pytest.raises(LabError, match="could not remove link hlv2"):
        network.remove_namespace("hlab-pixel", "hlv2")


@pytest.fixture
def fake_lab(tmp_path, monkeypatch):
    """A lab state with two hosts; the machines and the network are FAKE (recorded calls)."""
    monkeypatch.setattr(lab_module, "OWNER_FILE", tmp_path / "owner")
    lab = Lab(state_dir=tmp_path / "lab")
    lab._save({"hosts": {"gpu-node": {"spec": {"name": "gpu-node"}}, "pixel": {"spec": {"name": "pixel"}}}})
    done = []
    monkeypatch.setattr(network, "remove_namespace", lambda netns, veth: done.append(netns))
    monkeypatch.setattr(network, "remove_bridge", lambda: done.append("bridge"))
    return lab, done


def test_down_goes_on_past_a_host_that_fails_and_a_second_down_finishes(fake_lab, monkeypatch):
    lab, done = fake_lab
    stopped = []

    def stop_host(record):
        if record["spec"]["name"] == "gpu-node" and not stopped:
            stopped.append("failed once")
            raise LabError('`ip link del hlv0` failed (1): Cannot find device "hlv0"')
        stopped.append(record["spec"]["name"])

    monkeypatch.setattr(Lab, "_stop_host", lambda self, record: stop_host(record))
    with pytest.raises(LabError) as error:
        lab.down(log=lambda m: None)
    assert "lab host gpu-node" in str(error.value) and "run `python tasks.py lab down` again" in str(error.value)
    assert "pixel" in stopped and "bridge" in done  # the rest came down anyway
    assert lab.state_file.exists()  # the second down knows what to finish
    lab.down(log=lambda m: None)
    assert not lab.state_file.exists()


def test_a_second_checkout_cannot_start_a_lab_over_the_first(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_module, "OWNER_FILE", tmp_path / "owner")
    first, second = Lab(state_dir=tmp_path / "one" / ".lab"), Lab(state_dir=tmp_path / "two" / ".lab")
    first._claim()
    first._save({"hosts": {}})
    with pytest.raises(LabError, match=f"belongs to the checkout at {tmp_path / 'one'}"):
        second._claim()
    first.state_file.unlink()  # the first lab is down (its state gone): the machine is free
    second._claim()
    assert json.dumps(str(second.state_dir.resolve())) in json.dumps((tmp_path / "owner").read_text().strip())


@pytest.mark.skipif(not shutil.which("gpg-connect-agent"), reason="needs GnuPG")
def test_down_stops_the_mirror_keys_gpg_agent(fake_lab, monkeypatch):
    lab, _ = fake_lab
    monkeypatch.setattr(Lab, "_stop_host", lambda self, record: None)
    gnupg = lab.state_dir / "mirror-gnupg"
    gnupg.mkdir(mode=0o700)
    subprocess.run(["gpg-connect-agent", "/bye"], env={"GNUPGHOME": str(gnupg), "PATH": "/usr/bin:/bin"},
                   check=True, capture_output=True)

    def agent_running():
        return subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {gnupg}"], capture_output=True).returncode == 0

    assert agent_running()
    lab.down(log=lambda m: None)
    deadline = time.monotonic() + 10
    while agent_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not agent_running()
