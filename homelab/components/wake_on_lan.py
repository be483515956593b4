"""Wake-on-LAN on the Le Potato: `homelab-wake <gpu node>` sends the magic packet for the
PC's wol_mac, and the homelab-wake account lets the owner's phone do that and only that."""

from __future__ import annotations

import json

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from homelab import devices, gpu_mode, wake
from homelab.components.restricted_account import restricted_account
from homelab.operations import ManagedFile, files_in_place
from homelab.paths import FILES
from homelab.secrets_access import store_for
from homelab.validation import settings_for


def wake_config(inventory_) -> dict:
    nodes = {}
    for node in inventory_.get_group("gpu_nodes", []):
        mac = settings_for(node).wol_mac
        if mac:
            nodes[node.name] = {"mac": mac, "broadcast": wake.BROADCAST}
    return {"nodes": nodes}


@deploy("Wake-on-LAN")
def wake_on_lan() -> None:
    store = store_for(host)
    keys = {device: gpu_mode.remote_key(store, device).public for device in devices.owner_devices(host.inventory, store)}
    keys_file = restricted_account(wake.ACCOUNT, wake.REMOTE, keys)
    files.directory(name="/etc/homelab", path="/etc/homelab", mode="755")
    files_in_place(
        ManagedFile("homelab-wake", wake.TOOL, (FILES / "wake" / "homelab-wake").read_text(), mode="755"),
        ManagedFile("homelab-wake-remote", wake.REMOTE, (FILES / "wake" / "homelab-wake-remote").read_text(),
                    mode="755"),
        ManagedFile("The PCs it can wake", wake.CONFIG, json.dumps(wake_config(host.inventory), indent=2) + "\n",
                    mode="644"),
        keys_file,
    )
