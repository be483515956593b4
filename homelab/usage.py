"""What each tenant used, from the usage store the door in LiteLLM's pod keeps on the k3s
server (files/litellm/homelab_tenants.py): the same figures its token quotas are checked
against. `python tasks.py usage` prints them; doctor names a tenant near a quota."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyinfra.api.inventory import Inventory

from homelab import devices, k3s
from homelab.host_settings import settings_for
from homelab.settings import ApiClient, GpuNode
from homelab.ssh import ssh_command, sudo_prefix
from homelab.stack.litellm import OPEN_WEBUI_TENANT, USAGE_FILE

NEAR_QUOTA = 0.8  # doctor speaks up from here


class UsageUnavailable(Exception):
    pass


def tenant_limits(inventory: Inventory) -> dict[str, dict[str, int | None]]:
    """Every tenant's limits from the inventory: the API devices' and Open WebUI's."""
    limits = {devices.device_name(host): settings_for(host, ApiClient).limits
              for group in devices.API_CLIENT_GROUPS for host in inventory.get_group(group, [])}
    server = settings_for(k3s.server_host(inventory), GpuNode)
    if server.open_webui_enabled:
        limits[OPEN_WEBUI_TENANT] = server.open_webui_limits
    return limits


def read_store(server: str, cfg: GpuNode) -> dict[str, Any]:
    """The usage store as it is on the server ({"days": ..., "months": ...}); empty before
    the door first wrote it."""
    script = f"{sudo_prefix(cfg)}cat {USAGE_FILE} 2>/dev/null || echo '{{}}'"
    proc = subprocess.run(ssh_command(cfg, server, script), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise UsageUnavailable(f"{server} did not answer: {proc.stderr.strip()[-200:] or proc.returncode}")
    return parse(proc.stdout)


def parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError as error:
        raise UsageUnavailable(f"the usage store is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise UsageUnavailable("the usage store is not a JSON object")
    return {"days": data.get("days") or {}, "months": data.get("months") or {}}


@dataclass(frozen=True)
class Row:
    tenant: str
    model: str  # "" for a tenant's total
    requests: int
    prompt: int
    completion: int

    @property
    def tokens(self) -> int:
        return self.prompt + self.completion


def period_key(period: str, now: datetime | None = None) -> tuple[str, str]:
    now = now or datetime.now(UTC)
    return ("days", now.strftime("%Y-%m-%d")) if period == "day" else ("months", now.strftime("%Y-%m"))


def rows(store: dict[str, Any], period: str, by_model: bool = False, now: datetime | None = None) -> list[Row]:
    """Each tenant's use this UTC day or month (and per model), sorted."""
    key, name = period_key(period, now)
    out = []
    for tenant, models in sorted(store[key].get(name, {}).items()):
        per_model = [Row(tenant, model, *counts) for model, counts in sorted(models.items())]
        if by_model:
            out += per_model
        else:
            out.append(Row(tenant, "", sum(r.requests for r in per_model), sum(r.prompt for r in per_model),
                           sum(r.completion for r in per_model)))
    return out


def near_quota(store: dict[str, Any], limits: dict[str, dict[str, int | None]],
               now: datetime | None = None) -> list[tuple[str, str, int, int]]:
    """(tenant, period, used, quota) for every quota used to NEAR_QUOTA or beyond."""
    found = []
    for period in ("day", "month"):
        used = {row.tenant: row.tokens for row in rows(store, period, now=now)}
        for tenant, tenant_limits in sorted(limits.items()):
            quota = tenant_limits.get(f"tokens_per_{period}")
            if quota and used.get(tenant, 0) >= NEAR_QUOTA * quota:
                found.append((tenant, period, used.get(tenant, 0), quota))
    return found
