"""`tasks.py upgrade`: what a change of pins does (plan), and doing it with a way back (apply)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from pyinfra.api.inventory import Inventory

from homelab.cli.common import INVENTORY_OPTION, fail, passphrase
from homelab.inventory_loading import load_inventory
from homelab.stack.helm_render import RenderError
from homelab.upgrade.apply import Options, apply
from homelab.upgrade.deployed import UnreachableNode, read_deployed
from homelab.upgrade.plan import Plan, format_plan, make_plan


@click.group()
def upgrade() -> None:
    """Change pins without fear: see what a deploy of group data's pins would change, then
    apply it with a backup first, checks after, and the recorded pins as the way back."""


def _plan(inventory_file: str) -> tuple[Inventory, Plan]:
    inventory = load_inventory(inventory_file)
    try:
        return inventory, make_plan(inventory, read_deployed(inventory))
    except (UnreachableNode, RenderError) as exc:
        fail(f"upgrade: {exc}")


@upgrade.command("plan")
@INVENTORY_OPTION
@click.option("--json", "as_json", is_flag=True, help="The whole plan as JSON (every changed field).")
def upgrade_plan(inventory_file: str, as_json: bool) -> None:
    """What a GPU node deploy would change: pins, objects and fields, images, CRDs, restarts,
    the engines' downtime, and what is risky or refused. Reads the hosts, writes nothing.
    Exit 0: nothing refused (it may change things); 1: refused."""
    _, plan = _plan(inventory_file)
    click.echo(json.dumps(plan.as_dict(), indent=2, default=str) if as_json else format_plan(plan))
    sys.exit(1 if plan.refusals else 0)


@upgrade.command("apply")
@INVENTORY_OPTION
@click.option("--accept-risk", is_flag=True, help="Apply changes the plan calls risky (never refused ones).")
@click.option("--dry", is_flag=True, help="Show the plan and the steps; write nothing, anywhere.")
@click.option("--device", default="macbook", show_default=True, help="Whose token the smoke test calls with.")
@click.option("--backup-to", "backup_dir", default="backups", show_default=True, help="Directory for the backup.")
@click.option("--settle-seconds", default=900, show_default=True, type=click.IntRange(10, 7200),
              help="How long to wait for the Helm releases and pods after the deploy.")
def upgrade_apply(inventory_file: str, accept_risk: bool, dry: bool, device: str, backup_dir: str,
                  settle_seconds: int) -> None:
    """Back up, deploy the pins (k3s server before agents), wait for the releases, smoke
    test; on a failure deploy the pins recorded before again. Exit 0 only when upgraded."""
    inventory, plan = _plan(inventory_file)
    click.echo(format_plan(plan))
    if plan.refusals:
        fail("upgrade refused: fix what the plan lists under REFUSED")
    if plan.risks and not accept_risk:
        fail("upgrade refused: the plan lists RISKY changes; read them, then re-run with --accept-risk")
    if not plan.changes_anything:
        return
    options = Options(Path(inventory_file).resolve(), device, Path(backup_dir), lambda: passphrase(confirm=True),
                      settle_seconds, log=lambda message: click.echo(message, err=True))
    sys.exit(0 if apply(inventory, plan, options, dry=dry) else 1)
