"""What the command groups share: the inventory option, failing with a message, the k3s
server's settings, the secrets store, the backup passphrase, the running lab."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click
from pyinfra.api.inventory import Inventory

from homelab import k3s
from homelab.host_settings import settings_for
from homelab.inventory_checks import secrets_unchecked
from homelab.inventory_loading import load_inventory
from homelab.lab import Lab
from homelab.secrets_store import SecretsStore
from homelab.settings import GpuNode

INVENTORY_OPTION = click.option("--inventory", "inventory_file", default="inventory.py", show_default=True,
                                help="The inventory (its devices, and where its secrets store is).")


def fail(message: str) -> NoReturn:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


def server(inventory_file: str) -> tuple[str, GpuNode]:
    """The k3s server's name and settings."""
    host = k3s.server_host(load_inventory(inventory_file))
    return host.name, settings_for(host, GpuNode)


def inventory_and_store(inventory_file: str) -> tuple[Inventory, SecretsStore]:
    """The inventory, with its tokens unchecked (the keys and secrets commands are how a bad
    one is replaced), and the secrets store its group data names."""
    with secrets_unchecked():
        inventory = load_inventory(inventory_file)
    return inventory, SecretsStore(settings_for(next(iter(inventory))).secrets_file)


def passphrase(confirm: bool) -> str:
    """The backup's passphrase: HOMELAB_BACKUP_PASSPHRASE, else a hidden prompt."""
    value = os.environ.get("HOMELAB_BACKUP_PASSPHRASE")
    if value:
        return value
    answer: str = click.prompt("passphrase for the secrets store in the archive", hide_input=True,
                               confirmation_prompt=confirm)
    return answer


def running_lab() -> Lab:
    lab = Lab()
    if not lab.is_up():
        fail("the lab is down: python tasks.py lab up")
    return lab
