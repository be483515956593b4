"""Wake-on-LAN on the Le Potato: `homelab-wake <gpu node>` sends the magic packet for the
PC's wol_mac, and the homelab-wake account lets the owner's phone do that and only that."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api.inventory import Inventory
from pyinfra.context import host

from homelab import gpu_mode, host_state, k3s, wake_tool
from homelab.components import deploy
from homelab.components.restricted_account import query, restricted_account
from homelab.host_settings import secrets_store, settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.paths import FILES
from homelab.settings import GpuNode, LePotato


def wake_config(inventory_: Inventory) -> dict[str, Any]:
    nodes = {}
    for node in k3s.gpu_nodes(inventory_):
        mac = settings_for(node, GpuNode).wol_mac
        if mac:
            nodes[node.name] = {"mac": mac, "broadcast": wake_tool.BROADCAST}
    return {"nodes": nodes}


host_state.reads(LePotato, Query(files={wake_tool.TOOL, wake_tool.REMOTE, wake_tool.CONFIG},
                                 dirs={"/etc/homelab"}).merge(query(wake_tool.ACCOUNT)))


@deploy("Wake-on-LAN")
def wake_on_lan() -> None:
    state = host_state.snapshot(host)
    keys = gpu_mode.owner_keys(host.inventory, secrets_store(host))
    keys_file = restricted_account(wake_tool.ACCOUNT, wake_tool.REMOTE, keys, state)
    directory_in_place(name="/etc/homelab", path="/etc/homelab", mode="755", known=state.dirs["/etc/homelab"])
    files_in_place(
        ManagedFile("homelab-wake", wake_tool.TOOL, (FILES / "wake" / "homelab-wake").read_text(), mode="755"),
        ManagedFile("homelab-wake-remote", wake_tool.REMOTE, (FILES / "wake" / "homelab-wake-remote").read_text(),
                    mode="755"),
        ManagedFile("The PCs it can wake", wake_tool.CONFIG, json.dumps(wake_config(host.inventory), indent=2) + "\n",
                    mode="644"),
        keys_file,
        known=state.files,
    )
