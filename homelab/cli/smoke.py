"""`tasks.py smoke`: end to end through the gateway, with one device's token."""

from __future__ import annotations

import sys

import click

from homelab import devices, table
from homelab import smoke as smoke_test
from homelab.cli.common import INVENTORY_OPTION, fail, server
from homelab.client_setup import api_base_url_for, enabled_models, tls_verify
from homelab.secrets_store import SecretsStore


@click.command()
@click.option("--device", default="macbook", show_default=True, help="Whose token to call with.")
@INVENTORY_OPTION
def smoke(device: str, inventory_file: str) -> None:
    """End to end through the gateway: models, completion, streamed chat, text and image embeddings."""
    name, cfg = server(inventory_file)
    store = SecretsStore(cfg.secrets_file)
    if devices.is_revoked(store, device) or not store.has(devices.token_key(device)):
        fail(f"{device} has no active token (python tasks.py keys list)")
    base_url = api_base_url_for(cfg)
    click.echo(f"smoke test of {base_url} as {device}", err=True)
    steps = smoke_test.run(base_url, store.get(devices.token_key(device)).reveal(), enabled_models(cfg),
                           verify=tls_verify(cfg, name),
                           log=lambda message: click.echo(f"  {message}", err=True))
    click.echo(table.render(["step", "result", "seconds", "detail"],
                            [[s.name, "ok" if s.ok else "FAIL", f"{s.seconds:.2f}", s.detail] for s in steps]))
    sys.exit(0 if all(s.ok for s in steps) else 1)
