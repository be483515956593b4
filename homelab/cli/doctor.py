"""`tasks.py doctor`: every device checked, read-only, with the fix for what is wrong."""

from __future__ import annotations

import sys

import click
from pyinfra.api.host import Host

from homelab import doctor as checks
from homelab import table
from homelab.cli.common import INVENTORY_OPTION
from homelab.inventory_loading import load_inventory


@click.command()
@INVENTORY_OPTION
def doctor(inventory_file: str) -> None:
    """Check every device, read-only: what is right, what is wrong and how to fix it."""
    inventory = load_inventory(inventory_file)
    found: list[checks.Check] = []

    def shown(host: Host | None) -> str:
        return host.name if host else ""

    with click.progressbar(list(inventory), label="checking devices", file=sys.stderr,
                           item_show_func=shown) as hosts:
        for host in hosts:
            found += checks.host_checks(host)
    click.echo(table.render(["device", "check", "state", "detail"],
                            [[c.device, c.check, "ok" if c.ok else "FAIL", c.detail] for c in found]))
    failed = [c for c in found if not c.ok]
    for check in failed:
        click.secho(f"{check.device}: {check.check}: {check.fix}", fg="red")
    sys.exit(1 if failed else 0)
