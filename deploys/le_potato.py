"""The Le Potato: node exporter, the site's apt cache, wake-on-LAN, the lab's watcher and
its WireGuard door from outside.

    pyinfra inventory.py deploys/le_potato.py
"""

from pyinfra.context import host

from homelab.components.apt_cache import apt_cache
from homelab.components.common_base import common_base
from homelab.components.node_exporter import node_exporter
from homelab.components.wake_on_lan import wake_on_lan
from homelab.components.watcher_and_alerts import watcher_and_alerts
from homelab.components.wireguard_endpoint import wireguard_endpoint
from homelab.host_settings import settings_for
from homelab.settings import LePotato

if "le_potato" in host.groups and common_base():
    apt_cache()
    node_exporter()
    wake_on_lan()
    if settings_for(host, LePotato).watcher_enabled:
        watcher_and_alerts()
    wireguard_endpoint()
