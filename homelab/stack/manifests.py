"""All of the stack's manifest files: which exist for the current settings, and what
they hold. File names are valid Kubernetes object names (k3s names its Addon objects
after them)."""

from __future__ import annotations

import yaml

from homelab.stack import device_plugin, gateway, litellm, llm_d, model_cache, monitoring, open_webui, secrets, vllm
from homelab.stack.common import StackContext

SECRETS_FILE = "homelab-secrets"
# Every file this project can write, so that a switched-off component's file is found
# and its objects deleted.
ALL_FILES = [SECRETS_FILE, "homelab-device-plugin", "homelab-model-cache", "homelab-vllm", "homelab-litellm",
             "homelab-gateway",
             "homelab-monitoring", "homelab-open-webui", "homelab-llm-d", "homelab-llm-d-crds"]


def wanted(ctx: StackContext) -> dict[str, list[dict]]:
    """File name -> objects, for every component switched on (secrets aside)."""
    files = {
        "homelab-device-plugin": device_plugin.manifests(ctx),
        "homelab-model-cache": model_cache.manifests(ctx),
        "homelab-vllm": vllm.manifests(ctx),
        "homelab-litellm": litellm.manifests(ctx),
        "homelab-gateway": gateway.manifests(ctx),
    }
    if ctx.cfg.monitoring_enabled:
        files["homelab-monitoring"] = monitoring.manifests(ctx)
    if ctx.cfg.open_webui_enabled:
        files["homelab-open-webui"] = open_webui.manifests(ctx)
    if ctx.cfg.llm_d_enabled:
        files["homelab-llm-d"] = llm_d.manifests(ctx)
    return files


def dump(objects: list[dict]) -> str:
    header = "# Managed by homelab (pyinfra): written from group_data; the next deploy puts it back.\n"
    return header + yaml.safe_dump_all(objects, sort_keys=False, width=1000)


def secrets_text(ctx: StackContext, store) -> str:
    return dump(secrets.manifests(ctx, store))
