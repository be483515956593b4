"""Every client device's setup for the lab's API, each with its own token:

    pyinfra inventory.py deploys/clients.py                 # phones, iPads, this MacBook
    pyinfra inventory.py deploys/clients.py --limit pixel   # one device

Termux phones over SSH; iPads rendered into <client_files_dir>/<device>/ here; the
MacBook (@local) in the home directory.
"""

from pyinfra.context import host

from homelab.components.ipad_profile import ipad_profile
from homelab.components.macbook_client import macbook_client
from homelab.components.termux_client import termux_client

if "termux_phones" in host.groups:
    termux_client()
elif "ipads" in host.groups:
    ipad_profile()
elif "macbook" in host.groups:
    macbook_client()
