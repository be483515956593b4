"""The lab's network: one bridge on this machine, one namespace per lab host.

10.77.0.1 is this machine (the stand-in MacBook and the apt proxy), lab hosts get .10
upwards in inventory order, and .250 is a namespace without a host, an address outside
every allowlist, for tests that must be refused. 192.0.2.0/24 is this machine's uplink
and is never used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from homelab.lab.system import LabError, run

BRIDGE = "hlab0"
SUBNET = ipaddress.ip_network("10.77.0.0/24")
HOST_SIDE = "10.77.0.1"
FIRST_HOST = 10
OUTSIDER_NAME = "outsider"
OUTSIDER_ADDRESS = "10.77.0.250"


def host_address(index: int) -> str:
    return str(SUBNET.network_address + FIRST_HOST + index)


def _link_exists(name: str, netns: str | None = None) -> bool:
    cmd = ["ip", *(["-n", netns] if netns else []), "link", "show", name]
    return run(*cmd, check=False).returncode == 0


def netns_exists(name: str) -> bool:
    return name in run("ip", "netns", "list").stdout.split()


def ensure_bridge() -> None:
    if not _link_exists(BRIDGE):
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    if HOST_SIDE not in run("ip", "-o", "addr", "show", "dev", BRIDGE).stdout:
        run("ip", "addr", "add", f"{HOST_SIDE}/{SUBNET.prefixlen}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def ensure_namespace(netns: str, veth: str, address: str) -> None:
    """A namespace with `eth0` at `address`, its peer `veth` on the bridge."""
    if not netns_exists(netns):
        run("ip", "netns", "add", netns)
    if not _link_exists("eth0", netns):
        if _link_exists(veth):
            run("ip", "link", "del", veth)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    run("ip", "link", "set", veth, "master", BRIDGE, "up")
    if address not in run("ip", "-n", netns, "-o", "addr", "show", "dev", "eth0").stdout:
        run("ip", "-n", netns, "addr", "add", f"{address}/{SUBNET.prefixlen}", "dev", "eth0")
    run("ip", "-n", netns, "link", "set", "eth0", "up")
    run("ip", "-n", netns, "link", "set", "lo", "up")
    # A host started again gets a new MAC; a stale neighbour entry would stall SSH ~20 s,
    # here and in every other lab host (the phone calls the GPU node, the board wakes it).
    run("ip", "neigh", "flush", "to", address, "dev", BRIDGE, check=False)
    for other in run("ip", "netns", "list", check=False).stdout.split():
        if other.startswith("hlab-") and other != netns:
            run("ip", "-n", other, "neigh", "flush", "to", address, check=False)


def _delete(what: str, gone: Callable[[], bool], *cmd: str) -> None:
    """Run a delete that may find its object already gone (a netns' veth goes with the
    namespace, a moment later): only an object still there afterwards is an error."""
    proc = run(*cmd, check=False)
    if proc.returncode != 0 and not gone():
        raise LabError(f"could not remove {what}: `{' '.join(cmd)}`: {proc.stderr.strip() or proc.stdout.strip()}")


def remove_namespace(netns: str, veth: str) -> None:
    """The namespace and its veth, whatever of them is already gone."""
    if netns_exists(netns):
        _delete(f"network namespace {netns}", lambda: not netns_exists(netns), "ip", "netns", "del", netns)
    if _link_exists(veth):
        _delete(f"link {veth}", lambda: not _link_exists(veth), "ip", "link", "del", veth)


def remove_bridge() -> None:
    if _link_exists(BRIDGE):
        _delete(f"bridge {BRIDGE}", lambda: not _link_exists(BRIDGE), "ip", "link", "del", BRIDGE)
