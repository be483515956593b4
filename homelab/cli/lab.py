"""`tasks.py lab`: the simulated lab (containers standing in for the GPU node, the Le
Potato and a phone)."""

from __future__ import annotations

import sys

import click

from homelab.cli.common import fail
from homelab.lab import Lab, LabError


@click.group()
def lab() -> None:
    """The simulated lab: containers standing in for the GPU node, the Le Potato and a phone."""


@lab.command("up")
def lab_up() -> None:
    """Bring the lab up (idempotent) and write .lab/inventory.py."""
    try:
        Lab().up(log=click.echo)
    except LabError as exc:
        fail(f"lab up failed: {exc}")


@lab.command("down")
def lab_down() -> None:
    """Stop every lab container and remove the namespaces and processes the lab made."""
    Lab().down(log=click.echo)


@lab.command("status")
def lab_status() -> None:
    """Show each lab host: address, whether it runs, whether SSH answers."""
    rows = Lab().status()
    if not rows:
        click.echo("lab is down (python tasks.py lab up)")
        return
    for row in rows:
        state = "running" if row["running"] else "STOPPED"
        ssh = "ssh ok" if row["ssh"] else "ssh DOWN"
        click.echo(f"{row['host']:<12} {row['group']:<14} {row['address']}:{row['ssh_port']:<6} {state:<8} {ssh}")
    if not all(r["running"] and r["ssh"] for r in rows):
        sys.exit(1)


@lab.command("reset")
@click.argument("host")
def lab_reset(host: str) -> None:
    """Throw away HOST's changes and boot it fresh."""
    try:
        Lab().reset(host, log=click.echo)
    except LabError as exc:
        fail(str(exc))
