"""`python tasks.py ...`: everything around the deploys, one module per command (group).

    python tasks.py --help
    python tasks.py lab up | down | status | reset HOST      # cli/lab.py
    python tasks.py secrets list | show | set NAME           # cli/secrets.py
    python tasks.py plan                       # each GPU node's VRAM, RAM and CPU plan
    python tasks.py images [--artifacts DIR]   # every image the stack pulls; air-gap archives
    python tasks.py keys list | create | rotate | revoke | show DEVICE
    python tasks.py gpu pause | resume | status  # game mode: lend the GPU to a game
    python tasks.py wake [NODE]                # Wake-on-LAN from the Le Potato
    python tasks.py doctor                     # read-only health check of every device
    python tasks.py smoke [--device DEVICE]    # end to end through the gateway
    python tasks.py usage [--by-model]         # what each device used today and this month
    python tasks.py backup | restore ARCHIVE
    python tasks.py bench [gateway | wake]     # timings on the lab
    python tasks.py scan                       # kubescape / trivy against the cluster
    python tasks.py upgrade plan | apply       # what a change of pins does; apply it with a way back
"""

from __future__ import annotations

from typing import Any

import click

from homelab.cli.backup import backup, restore
from homelab.cli.bench import bench
from homelab.cli.common import fail
from homelab.cli.doctor import doctor
from homelab.cli.gpu import gpu
from homelab.cli.images import images
from homelab.cli.keys import keys
from homelab.cli.lab import lab
from homelab.cli.plan import plan
from homelab.cli.scan import scan
from homelab.cli.secrets import secrets
from homelab.cli.smoke import smoke
from homelab.cli.upgrade import upgrade
from homelab.cli.usage import usage
from homelab.cli.wake import wake
from homelab.inventory_checks import InvalidInventory
from homelab.secrets_store import BadSecret, MissingSecret


class Tasks(click.Group):
    """Bad inventory data ends any task with the same report as a deploy's; a secret that
    is missing or unusable (a bad HOMELAB_SECRET_* override) with its fix, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidInventory as exc:
            fail(exc.report())
        except (BadSecret, MissingSecret) as exc:
            fail(str(exc))


@click.group(cls=Tasks)
def cli() -> None:
    """Tasks for the home-lab AI hosting project (run from the project directory)."""


for command in (lab, secrets, plan, images, keys, gpu, wake, doctor, smoke, usage, backup, restore, bench, scan,
                upgrade):
    cli.add_command(command)
