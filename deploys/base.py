"""The common base on every SSH-managed Linux host: pyinfra inventory.py deploys/base.py

Device deploys (gpu_node.py, le_potato.py) include it; this file runs it alone.
"""

from pyinfra.context import host

from homelab.components.common_base import common_base
from homelab.host_settings import settings_for
from homelab.settings import DebianHost

if isinstance(settings_for(host), DebianHost):
    common_base()
