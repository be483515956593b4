"""The whole site, every device: pyinfra inventory.py deploys/site.py

Each included deploy acts only on its own group's hosts.
"""

from pathlib import Path

from pyinfra import local

HERE = Path(__file__).parent

for device_deploy in ("le_potato.py",):
    local.include(str(HERE / device_deploy))
