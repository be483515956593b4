"""`tasks.py backup` and `restore`: k3s's files and datastore, Grafana, and the encrypted
secrets store, out to an archive and back."""

from __future__ import annotations

from pathlib import Path

import click

from homelab import backup as backups
from homelab.cli.common import INVENTORY_OPTION, fail, passphrase, server


@click.command()
@INVENTORY_OPTION
@click.option("--to", "out_dir", default="backups", show_default=True, help="Directory for the archive.")
def backup(inventory_file: str, out_dir: str) -> None:
    """Archive k3s's config, datastore and manifests, Grafana, and the encrypted secrets store."""
    name, cfg = server(inventory_file)
    try:
        archive = backups.take(name, cfg, Path(cfg.secrets_file), Path(out_dir), passphrase(confirm=True),
                               log=lambda m: click.echo(f"  {m}", err=True))
    except backups.BackupError as exc:
        fail(f"backup failed: {exc}")
    click.echo(str(archive))


@click.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@INVENTORY_OPTION
def restore(archive: str, inventory_file: str) -> None:
    """Put ARCHIVE back: k3s's files and datastore on the server, the secrets store here."""
    name, cfg = server(inventory_file)
    try:
        manifest = backups.restore(Path(archive), cfg, name, Path(cfg.secrets_file), passphrase(confirm=False),
                                   log=lambda m: click.echo(f"  {m}", err=True))
    except backups.BackupError as exc:
        fail(f"restore failed: {exc}")
    click.echo(f"restored the backup of {manifest['created']}; now run the deploys: they should change nothing")
