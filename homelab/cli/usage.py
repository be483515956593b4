"""`tasks.py usage`: what each device used today and this month."""

from __future__ import annotations

import click

from homelab import k3s, table
from homelab import usage as usage_store
from homelab.cli.common import INVENTORY_OPTION, fail
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.settings import GpuNode


@click.command()
@INVENTORY_OPTION
@click.option("--by-model", is_flag=True, help="One line per device and model.")
def usage(inventory_file: str, by_model: bool) -> None:
    """What each device used today and this month (UTC): requests, prompt and completion
    tokens, from the usage store its quotas are checked against (on the k3s server)."""
    inventory = load_inventory(inventory_file)
    server = k3s.server_host(inventory)
    limits = usage_store.tenant_limits(inventory)
    try:
        store = usage_store.read_store(server.name, settings_for(server, GpuNode))
    except usage_store.UsageUnavailable as error:
        fail(f"usage: {error}")
    for period, title in (("day", "today (UTC)"), ("month", "this month (UTC)")):
        click.echo(f"{title}:")
        lines = []
        for row in usage_store.rows(store, period, by_model):
            quota = limits.get(row.tenant, {}).get(f"tokens_per_{period}")
            share = "" if by_model else (f"{row.tokens}/{quota} ({100 * row.tokens / quota:.0f}%)" if quota
                                         else "no quota")
            lines.append([row.tenant, *([row.model] if by_model else []), str(row.requests), str(row.prompt),
                          str(row.completion), *([] if by_model else [share])])
        head = ["device", *(["model"] if by_model else []), "requests", "prompt", "completion",
                *([] if by_model else [f"tokens / {period} quota"])]
        click.echo(table.render(head, lines) if lines else "  nothing yet")
        click.echo("")
