"""The Le Potato's WireGuard endpoint: the door into the lab from outside.

wg-quick@wg0 with one peer per device (homelab/tunnel_peers.py); the kernel's WireGuard
when the board has the module, wireguard-go otherwise (a probe decides: wg-quick falls
back to it by itself). An nftables table lets the tunnel reach the gateway, Open WebUI
and what `wireguard_lan_access` names, each at the board's tunnel address, and nothing
else; the tunnel does not come up without it. With `wireguard_endpoint = None` the
endpoint is taken down and its files removed.
"""

from __future__ import annotations

from pyinfra.context import host

from homelab import host_state, tunnel_peers
from homelab.components import deploy
from homelab.host_settings import secrets_store, settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, file_absent, files_in_place
from homelab.operations.packages import apt_installed
from homelab.operations.server import sysctl_set
from homelab.operations.systemd import unit_stopped
from homelab.rendering import render
from homelab.services import keep_running
from homelab.settings import LePotato

RULES = "/etc/homelab/tunnel.nft"
FIREWALL_UNIT = "homelab-tunnel-firewall"
FIREWALL_UNIT_FILE = f"/etc/systemd/system/{FIREWALL_UNIT}.service"
TUNNEL_DROP_IN = f"/etc/systemd/system/{tunnel_peers.UNIT}.service.d/homelab.conf"
SYSCTL_FILE = "/etc/sysctl.d/60-homelab-tunnel.conf"
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
FILES = (tunnel_peers.CONFIG, RULES, FIREWALL_UNIT_FILE, TUNNEL_DROP_IN, SYSCTL_FILE)
DIRS = ("/etc/wireguard", "/etc/homelab", TUNNEL_DROP_IN.rsplit("/", 1)[0])
PACKAGES = ("wireguard-tools", "wireguard-go", "nftables")


host_state.reads(LePotato, Query(files=set(FILES), dirs=set(DIRS), units={tunnel_peers.UNIT, FIREWALL_UNIT},
                                 packages=set(PACKAGES), contents={IP_FORWARD}, modules={"wireguard"}))


@deploy("WireGuard endpoint")
def wireguard_endpoint() -> None:
    cfg = settings_for(host, LePotato)
    state = host_state.snapshot(host)
    if not tunnel_peers.enabled(cfg):
        _taken_down(state)
        return
    # wg-quick uses the kernel's WireGuard when it can, else wireguard-go (this board's kernel has no module)
    userspace = [] if state.modules["wireguard"] else ["wireguard-go"]
    apt_installed(name="Install WireGuard and nftables", packages=["wireguard-tools", "nftables", *userspace],
                  installed=state.packages)
    for directory, mode in (("/etc/wireguard", "700"), ("/etc/homelab", "755"), (DIRS[2], "755")):
        directory_in_place(name=f"{directory} directory", path=directory, mode=mode, known=state.dirs[directory])
    forwards = tunnel_peers.forwards(host.inventory, cfg)
    board_address = tunnel_peers.board_address(cfg)
    tunnel = ManagedFile("Tunnel config (keys and peers)", tunnel_peers.CONFIG,
                         tunnel_peers.board_config(host.inventory, secrets_store(host), cfg), mode="600")
    rules = ManagedFile("What the tunnel may reach (nftables)", RULES, render(
        "wireguard_endpoint", "homelab-tunnel.nft.j2", interface=tunnel_peers.INTERFACE, forwards=forwards,
        board_address=board_address, subnet=cfg.wireguard_subnet))
    firewall_unit = ManagedFile("Unit loading the rules", FIREWALL_UNIT_FILE, render(
        "wireguard_endpoint", "homelab-tunnel-firewall.service.j2", rules=RULES, tunnel_unit=tunnel_peers.UNIT))
    drop_in = ManagedFile("No tunnel without its rules", TUNNEL_DROP_IN, render(
        "wireguard_endpoint", "wg-quick.service.d.conf.j2", firewall_unit=FIREWALL_UNIT))
    forwarding = ManagedFile("Forwarding kept over reboots", SYSCTL_FILE,
                             render("wireguard_endpoint", "60-homelab-tunnel.conf.j2"))
    placed = files_in_place(tunnel, rules, firewall_unit, drop_in, forwarding, known=state.files)
    sysctl_set(name="Forwarding on", key="net.ipv4.ip_forward", value="1", known=state.contents[IP_FORWARD])
    keep_running(FIREWALL_UNIT, state.unit(FIREWALL_UNIT), configs=[placed[rules]], units=[placed[firewall_unit]])
    # a restart of the rules' unit stops the tunnel bound to it: the tunnel restarts after it
    keep_running(tunnel_peers.UNIT, state.unit(tunnel_peers.UNIT), configs=[placed[tunnel], placed[rules]],
                 units=[placed[drop_in], placed[firewall_unit]])


def _taken_down(state: host_state.Snapshot) -> None:
    """No endpoint configured: the tunnel stopped, its rules unloaded, its files gone (the
    packages stay; they do nothing by themselves)."""
    for unit in (tunnel_peers.UNIT, FIREWALL_UNIT):
        unit_stopped(name=f"{unit} stopped", unit=unit, known=state.unit(unit))
    for path in FILES:
        file_absent(name=f"No {path}", path=path, known=state.file(path))
