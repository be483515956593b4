"""`tasks.py secrets`: the local secrets store (never in git, mode 0600)."""

from __future__ import annotations

import getpass
import sys

import click

from homelab.cli.common import INVENTORY_OPTION, fail, inventory_and_store
from homelab.secrets_store import SUPPLIED, SecretsStore

FILE_OPTION = click.option("--file", "path", default=None,
                           help="A secrets store other than the inventory's (secrets_file in group_data/all.py).")


@click.group()
def secrets() -> None:
    """The local secrets store (never in git, mode 0600)."""


def _store(inventory_file: str, path: str | None) -> SecretsStore:
    return SecretsStore(path) if path else inventory_and_store(inventory_file)[1]


@secrets.command("list")
@INVENTORY_OPTION
@FILE_OPTION
def secrets_list(inventory_file: str, path: str | None) -> None:
    """List the names of stored secrets (never their values)."""
    for name in _store(inventory_file, path).names():
        click.echo(name)


@secrets.command("show")
@click.argument("name")
@INVENTORY_OPTION
@FILE_OPTION
def secrets_show(name: str, inventory_file: str, path: str | None) -> None:
    """Print secret NAME (e.g. open_webui_admin_password, to log in to Open WebUI)."""
    store = _store(inventory_file, path)
    if name not in store.names():
        fail(f"no secret {name!r} in {store.path} (it is made by the first deploy that needs it)")
    click.echo(store.get(name).reveal())


@secrets.command("set")
@click.argument("name")
@INVENTORY_OPTION
@FILE_OPTION
def secrets_set(name: str, inventory_file: str, path: str | None) -> None:
    """Store secret NAME, read from a hidden prompt (or stdin when piped)."""
    hint = SUPPLIED.get(name, "the value")
    value = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass(f"{name} ({hint}): ")
    if not value:
        fail(f"no value given for {name}")
    store = _store(inventory_file, path)
    try:
        store.set(name, value)
    except ValueError as exc:  # a bad name, or a token the gateway could not take
        fail(str(exc))
    click.echo(f"stored {name} in {store.path}")
