"""The whole site, every device: pyinfra inventory.py deploys/site.py

Each included deploy acts only on its own group's hosts.
"""

from pathlib import Path

from pyinfra import local

HERE = Path(__file__).parent

# The Le Potato first: the other hosts may fetch their packages through its cache. The
# clients last: they need the GPU node's gateway (and its root CA, with HTTPS).
for device_deploy in ("le_potato.py", "gpu_node.py", "clients.py"):
    local.include(str(HERE / device_deploy))
