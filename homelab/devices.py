"""The devices that use the lab's API, and their tokens in the secrets store.

A device's token is `device_token.<device>` in the secrets store, made on first use.
Revoking writes `device_token_revoked.<device>`: the gateway and the tunnel then leave
the device out, and no deploy makes it a new token until `python tasks.py keys create`
does. Its tunnel key (`wireguard_key.<device>`) goes with its token.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyinfra.api.host import Host
    from pyinfra.api.inventory import Inventory

    from homelab.secrets_store import SecretsStore

# Groups whose hosts call the API through the gateway.
API_CLIENT_GROUPS = ("termux_phones", "ipads", "macbook")


def device_name(host: Host) -> str:
    """The name a device goes by: its inventory name, or its group's for @local."""
    if not host.name.startswith("@"):
        return host.name
    return next((g for g in API_CLIENT_GROUPS if g in host.groups), host.name.lstrip("@"))


def api_devices(inventory: Inventory) -> list[str]:
    names = []
    for group in API_CLIENT_GROUPS:
        for host in inventory.get_group(group, []):
            names.append(device_name(host))
    return sorted(set(names))


def owner_devices(inventory: Inventory, store: SecretsStore) -> list[str]:
    """The owner's own phones (`owner_device: True`), unless revoked: they may pause and
    resume the AI side and wake the PC."""
    from homelab.host_settings import settings_for
    from homelab.settings import TermuxPhone

    return sorted(device_name(h) for h in inventory.get_group("termux_phones", [])
                  if settings_for(h, TermuxPhone).owner_device and not is_revoked(store, device_name(h)))


def token_key(device: str) -> str:
    return f"device_token.{device}"


def revoked_key(device: str) -> str:
    return f"device_token_revoked.{device}"


def token_env(device: str) -> str:
    """The environment variable that carries the device's token into the gateway."""
    return "HOMELAB_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", device).upper()


def is_revoked(store: SecretsStore, device: str) -> bool:
    return store.has(revoked_key(device))


def active_tokens(store: SecretsStore, devices: list[str]) -> dict[str, str]:
    """device -> token for every device not revoked (tokens made on first use)."""
    return {d: store.get_or_make(token_key(d)).reveal() for d in devices if not is_revoked(store, d)}


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def rotate(store: SecretsStore, device: str) -> None:
    """A new token, and a new tunnel key at the next deploy (its tunnel address stays)."""
    store.delete(revoked_key(device))
    store.delete(token_key(device))
    store.delete(f"wireguard_key.{device}")
    store.get_or_make(token_key(device))


def revoke(store: SecretsStore, device: str) -> None:
    """No token, no tunnel key: the gateway and the board's tunnel leave the device out."""
    store.delete(token_key(device))
    store.delete(f"wireguard_key.{device}")
    store.set(revoked_key(device), datetime.now(UTC).isoformat(timespec="seconds"))
