"""`tasks.py plan`: each GPU node's plan, the models on its GPU memory and the pods on the
PC's RAM and CPU."""

from __future__ import annotations

import sys

import click

from homelab import capacity, k3s
from homelab.cli.common import INVENTORY_OPTION
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.settings import GpuNode
from homelab.stack.common import StackContext


@click.command()
@INVENTORY_OPTION
def plan(inventory_file: str) -> None:
    """Show each GPU node's plan: the models on its GPU's memory, the pods on the PC's RAM and CPU."""
    # a plan that does not fit is part of the inventory's report already
    inventory = load_inventory(inventory_file)
    nodes = {host.name: settings_for(host, GpuNode) for host in k3s.gpu_nodes(inventory)}
    ctx = StackContext(nodes=nodes)
    fits = True
    for name, node_plan in capacity.plan(ctx).items():
        vram_plan = ctx.plans[name]
        click.echo(f"{name}: GPU memory\n{vram_plan.table()}\n")
        click.echo(f"{name}: RAM and CPU (WSL2 on the PC)\n{node_plan.table()}\n")
        for verdict in ((vram_plan.fits, vram_plan.advice), (node_plan.fits, node_plan.advice)):
            if not verdict[0]:
                fits = False
                click.secho(verdict[1](), fg="red", err=True)
    if not fits:
        sys.exit(1)
