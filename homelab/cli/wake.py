"""`tasks.py wake`: Wake-on-LAN for a GPU node's PC, sent by the Le Potato."""

from __future__ import annotations

import shlex
import subprocess
import sys

import click

from homelab import k3s, wake_tool
from homelab.cli.common import INVENTORY_OPTION, fail
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.settings import GpuNode
from homelab.ssh import ssh_command


@click.command()
@click.argument("node", required=False)
@INVENTORY_OPTION
def wake(node: str | None, inventory_file: str) -> None:
    """Wake a GPU node's PC (default: the k3s server) with Wake-on-LAN, sent by the Le Potato."""
    inventory = load_inventory(inventory_file)
    node = node or k3s.server_host(inventory).name
    nodes = {h.name: h for h in k3s.gpu_nodes(inventory)}
    if node not in nodes or not settings_for(nodes[node], GpuNode).wol_mac:
        fail(f"{node} is not a GPU node with a wol_mac (set it in its entry in inventory.py)")
    potatoes = inventory.get_group("le_potato", [])
    if not potatoes:
        fail("no Le Potato in the inventory to send the packet from")
    board = potatoes[0]
    remote = shlex.join([wake_tool.TOOL, node])
    sys.exit(subprocess.run(ssh_command(settings_for(board), board.name, remote)).returncode)
