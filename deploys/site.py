"""The whole site, every device: pyinfra inventory.py deploys/site.py

Each included deploy acts only on its own group's hosts.
"""

from pathlib import Path

from pyinfra import local

HERE = Path(__file__).parent

# The Le Potato first: the other hosts may fetch their packages through its cache.
for device_deploy in ("le_potato.py", "gpu_node.py"):
    local.include(str(HERE / device_deploy))
