"""`tasks.py keys`: each device's API token (one per device, checked by the gateway)."""

from __future__ import annotations

from collections.abc import Callable

import click

from homelab import devices
from homelab.cli.common import INVENTORY_OPTION, fail, inventory_and_store
from homelab.secrets_store import BadSecret, SecretsStore


@click.group()
def keys() -> None:
    """API tokens of the devices (one per device, checked by the gateway)."""


def _api_devices_and_store(inventory_file: str) -> tuple[list[str], SecretsStore]:
    inventory, store = inventory_and_store(inventory_file)
    return devices.api_devices(inventory), store


@keys.command("list")
@INVENTORY_OPTION
def keys_list(inventory_file: str) -> None:
    """List every API device and the state of its token (fingerprints, never tokens)."""
    names, store = _api_devices_and_store(inventory_file)
    for name in names:
        if devices.is_revoked(store, name):
            state = f"revoked since {store.get(devices.revoked_key(name)).reveal()}"
        elif store.has(devices.token_key(name)):
            try:
                state = f"active, fingerprint {devices.fingerprint(store.get(devices.token_key(name)).reveal())}"
            except BadSecret as exc:
                state = f"UNUSABLE: {exc}"
        else:
            state = "no token yet (made by the next deploy)"
        click.echo(f"{name:<16} {state}")


def _device_command(name: str) -> Callable[[Callable[[str, SecretsStore], None]], click.Command]:
    """A `keys` command about one DEVICE: it gets DEVICE and the secrets store, once DEVICE
    is known to use the API."""
    def register(function: Callable[[str, SecretsStore], None]) -> click.Command:
        @keys.command(name, help=function.__doc__)
        @click.argument("device")
        @INVENTORY_OPTION
        def command(device: str, inventory_file: str) -> None:
            names, store = _api_devices_and_store(inventory_file)
            if device not in names:
                fail(f"{device!r} is not a device that uses the API; devices: {', '.join(names)}")
            function(device, store)
        return command
    return register


@_device_command("create")
def keys_create(device: str, store: SecretsStore) -> None:
    """Give DEVICE a token (also lifts a revocation). Active after the next deploy."""
    if store.has(devices.token_key(device)) and not devices.is_revoked(store, device):
        fail(f"{device} already has a token; to replace it: python tasks.py keys rotate {device}")
    devices.rotate(store, device)
    click.echo(f"{device}: token created; deploy the GPU node to activate it (show it: keys show {device})")


@_device_command("rotate")
def keys_rotate(device: str, store: SecretsStore) -> None:
    """Replace DEVICE's token; the old one stops working after the next deploy."""
    devices.rotate(store, device)
    click.echo(f"{device}: new token and tunnel key; deploy the GPU node (the old token then stops working), the "
               "Le Potato (the old tunnel key too) and the clients")


@_device_command("revoke")
def keys_revoke(device: str, store: SecretsStore) -> None:
    """Take DEVICE's token away; it stops working after the next deploy."""
    devices.revoke(store, device)
    click.echo(f"{device}: revoked; deploy the GPU node and the Le Potato (its tunnel peer) to make it take effect")


@_device_command("show")
def keys_show(device: str, store: SecretsStore) -> None:
    """Print DEVICE's token (to set up a client by hand)."""
    if devices.is_revoked(store, device):
        fail(f"{device} is revoked")
    if not store.has(devices.token_key(device)):
        fail(f"{device} has no token yet: python tasks.py keys create {device} (or deploy its client)")
    click.echo(store.get(devices.token_key(device)).reveal())  # a bad one: the CLI ends with its fix
