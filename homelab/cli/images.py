"""`tasks.py images`: every image the stack pulls; with --artifacts, the air-gap archives."""

from __future__ import annotations

import sys

import click

from homelab import airgap, k3s
from homelab.cli.common import INVENTORY_OPTION, fail
from homelab.components.ai_stack import stack_context
from homelab.inventory_loading import load_inventory
from homelab.stack import helm_render, manifests


@click.command()
@INVENTORY_OPTION
@click.option("--artifacts", "artifacts_dir", default=None, type=click.Path(file_okay=False),
              help="An offline k3s artifact directory: check its images/ archives and write images/SHA256SUMS.")
def images(inventory_file: str, artifacts_dir: str | None) -> None:
    """Every image the stack pulls, from a render of its HelmCharts with the pinned charts."""
    inventory = load_inventory(inventory_file)
    try:
        server = k3s.server_host(inventory)
        found = helm_render.images(helm_render.render(manifests.wanted(stack_context(server, inventory))))
    except helm_render.RenderError as exc:
        fail(str(exc))
    if not artifacts_dir:
        click.echo("\n".join(found))
        return
    directory = airgap.images_dir(artifacts_dir)
    directory.mkdir(parents=True, exist_ok=True)
    present, missing = airgap.find_archives(found, directory)
    for image in found:
        click.echo(f"{image:<70} {present[image].name if image in present else 'MISSING'}")
    sums = airgap.write_sums(directory, list(present.values()))
    click.echo(f"{sums}: {len(present)} archives; the GPU node deploy copies them into k3s's agent/images", err=True)
    if missing:
        click.secho("missing archives; on a machine with internet access:\n" +
                    "\n".join(f"  {airgap.save_command(image, directory)}" for image in missing), fg="red", err=True)
        sys.exit(1)
