"""The home lab's one inventory.

Replace the example addresses and user names with yours. Each group's defaults live in
group_data/<group>.py; only what differs per device belongs here. Nothing secret goes
in this file: tokens live in the secrets store (see README, "Secrets").

    pyinfra inventory.py deploys/site.py            # everything
    pyinfra inventory.py deploys/gpu_node.py        # one role
    pyinfra inventory.py deploys/site.py --limit potato   # one device
"""

from homelab.inventory_loading import check_inventory_file

# The Windows PC's WSL2 Ubuntu 22.04 with the RTX 4070 Ti. The first entry is the
# k3s server; further entries join it as agents. wol_mac: the PC's wired network card,
# for Wake-on-LAN from the Le Potato.
gpu_nodes = [
    ("gpu-node", {"ssh_hostname": "192.168.1.50", "ssh_user": "owner", "lan_address": "192.168.1.50",
                  "wol_mac": "a8:a1:59:01:23:45"}),
]

# The Le Potato board (Armbian or Libre Computer Debian, arm64).
le_potato = [
    ("potato", {"ssh_hostname": "192.168.1.60", "ssh_user": "owner", "lan_address": "192.168.1.60"}),
]

# Android phones running Termux's sshd (port 8022, key login; the user name is ignored).
# owner_device: the owner's own phone, which may pause and resume the AI side.
termux_phones = [
    ("pixel", {"ssh_hostname": "192.168.1.70", "ssh_user": "termux", "lan_address": "192.168.1.70",
               "owner_device": True}),
]

# iPads have no SSH: their profile and QR codes are rendered on this machine.
ipads = [
    ("@render/ipad", {"lan_address": "192.168.1.80"}),
]

# The MacBook that runs pyinfra: gets its own API token, env file and kubeconfig.
macbook = [
    ("@local", {"lan_address": "192.168.1.20"}),
]

# Must stay last: checks every host's merged data before pyinfra connects to any.
check_inventory_file(__file__)
