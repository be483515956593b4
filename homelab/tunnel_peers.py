"""Away from home: the WireGuard tunnel's keys, addresses and configs, from the inventory
and the secrets store. The Le Potato's endpoint (homelab/components/wireguard_endpoint.py)
and every client's setup (Termux, iPad, MacBook) are rendered from here.

Keys are made on the control machine, with cryptography's X25519 (WireGuard's keys are
raw Curve25519 keys in base64), and kept in the secrets store as
`wireguard_key.<device>`; a device's private key only ever goes to that device (or its
files for the owner to install). Each device keeps its tunnel address for good
(`wireguard_address.<device>`, the lowest free one when it first needs one), so adding a
device moves no one.

The board forwards what comes through the tunnel to the gateway (and Open WebUI, and
what `wireguard_lan_access` names) from its own LAN address: the PC's allowlist, the
router and the LAN's routes stay as they are, and the gateway still checks each
device's token. Clients route only the board's tunnel address through the tunnel.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from homelab import devices, k3s
from homelab.host_settings import settings_for
from homelab.secrets_store import Secret
from homelab.settings import Common, GpuNode, LePotato

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

    from homelab.secrets_store import SecretsStore

INTERFACE = "wg0"
CONFIG = f"/etc/wireguard/{INTERFACE}.conf"
UNIT = f"wg-quick@{INTERFACE}"
KEEPALIVE_SECONDS = 25  # a phone behind NAT keeps its mapping open


def key_secret(name: str) -> str:
    return f"wireguard_key.{name}"


def address_secret(device: str) -> str:
    return f"wireguard_address.{device}"


def new_private_key() -> str:
    raw = X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def public_key(private: str) -> str:
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private))
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def enabled(cfg: Common) -> bool:
    return cfg.wireguard_endpoint is not None


def board_address(cfg: Common) -> str:
    """The board's address inside the tunnel: the subnet's first host."""
    return str(next(ipaddress.ip_network(cfg.wireguard_subnet).hosts()))


def device_address(store: SecretsStore, cfg: Common, device: str) -> str:
    """The device's tunnel address, made once: the lowest one no other device holds."""

    def lowest_free() -> str:
        taken = {board_address(cfg), *store.values_named("wireguard_address.").values()}
        hosts = ipaddress.ip_network(cfg.wireguard_subnet).hosts()
        free = next((str(a) for a in hosts if str(a) not in taken), None)
        if free is None:
            raise ValueError(f"wireguard_subnet {cfg.wireguard_subnet} has no free address left for {device}: "
                             "choose a larger one in group_data/all.py")
        return free

    return store.get_or_make(address_secret(device), lowest_free).reveal()


def device_key(store: SecretsStore, device: str) -> Secret:
    return store.get_or_make(key_secret(device), new_private_key)


@dataclass(frozen=True)
class Peer:
    device: str
    public_key: str
    address: str


def peers(inventory: Inventory, store: SecretsStore, cfg: Common) -> list[Peer]:
    """Every API device that is not revoked: a revoked one is left out of the board's config."""
    found = []
    for device in devices.api_devices(inventory):
        if devices.is_revoked(store, device):
            continue
        found.append(Peer(device, public_key(device_key(store, device).reveal()), device_address(store, cfg, device)))
    return found


@dataclass(frozen=True)
class Forward:
    """A port of the board's tunnel address, forwarded to a LAN service."""

    port: int
    to_address: str
    to_port: int
    what: str


def forwards(inventory: Inventory, cfg: Common) -> list[Forward]:
    """What the tunnel reaches: the gateway, Open WebUI, and the owner's extra services."""
    server = settings_for(k3s.server_host(inventory), GpuNode)
    found = [Forward(server.gateway_port, server.lan_address, server.gateway_port, "the gateway (OpenAI API)")]
    if server.open_webui_enabled:
        found.append(Forward(server.open_webui_port, server.lan_address, server.open_webui_port, "Open WebUI"))
    for service in cfg.wireguard_lan_access:
        address, _, port = service.rpartition(":")
        found.append(Forward(int(port), address, int(port), f"{service} (wireguard_lan_access)"))
    return found


def away_base_url(inventory: Inventory) -> str:
    """The API's URL through the tunnel: the board's tunnel address, the gateway's port."""
    server = settings_for(k3s.server_host(inventory), GpuNode)
    scheme = "https" if server.gateway_tls else "http"
    return f"{scheme}://{board_address(server)}:{server.gateway_port}/v1"


def client_config(inventory: Inventory, store: SecretsStore, cfg: Common, device: str) -> Secret:
    """The device's own wg-quick config: its key and address, the board as its one peer,
    and only the board's tunnel address routed through it (split tunnel)."""
    board_key = device_key(store, board_name(inventory))
    lines = [
        f"# Managed by homelab (pyinfra): {device}'s way into the home lab from outside. Secret: its private key.",
        "[Interface]",
        f"PrivateKey = {device_key(store, device).reveal()}",
        f"Address = {device_address(store, cfg, device)}/32",
        "",
        "[Peer]",
        f"PublicKey = {public_key(board_key.reveal())}",
        f"Endpoint = {endpoint(cfg)}",
        f"AllowedIPs = {board_address(cfg)}/32",
        f"PersistentKeepalive = {KEEPALIVE_SECONDS}",
    ]
    return Secret("\n".join(lines) + "\n")


def endpoint(cfg: Common) -> str:
    host = cfg.wireguard_endpoint or ""
    return f"[{host}]:{cfg.wireguard_port}" if ":" in host else f"{host}:{cfg.wireguard_port}"


def board_name(inventory: Inventory) -> str:
    """The Le Potato that runs the endpoint: the first of its group."""
    boards = inventory.get_group("le_potato", [])
    if not boards:
        raise LookupError("remote access needs a Le Potato in the inventory (le_potato group)")
    return str(boards[0].name)


def board_config(inventory: Inventory, store: SecretsStore, cfg: LePotato) -> Secret:
    """The board's wg-quick config: its key, its tunnel address, one peer per device."""
    lines = [
        "# Managed by homelab (pyinfra): the home lab's WireGuard endpoint. Secret: mode 0600.",
        "[Interface]",
        f"PrivateKey = {device_key(store, board_name(inventory)).reveal()}",
        f"Address = {board_address(cfg)}/{ipaddress.ip_network(cfg.wireguard_subnet).prefixlen}",
        f"ListenPort = {cfg.wireguard_port}",
    ]
    for peer in peers(inventory, store, cfg):
        lines += ["", f"# {peer.device}", "[Peer]", f"PublicKey = {peer.public_key}", f"AllowedIPs = {peer.address}/32"]
    return Secret("\n".join(lines) + "\n")
