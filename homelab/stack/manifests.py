"""The stack's one list of components: which manifest file each writes, when it is
switched on, what objects it holds and which pods it runs (for the RAM and CPU plan).
File names are valid Kubernetes object names (k3s names its Addon objects after them)."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import yaml

from homelab.settings import GpuNode
from homelab.stack import device_plugin, gateway, litellm, llm_d, model_cache, monitoring, open_webui, secrets, vllm
from homelab.stack.common import PodPlan, StackContext


@dataclass(frozen=True)
class Component:
    file: str  # the manifest's name in k3s's auto-deploy directory, without .yaml
    module: ModuleType  # has manifests(ctx) and, when it runs pods we plan, pods(ctx)
    enabled: Callable[[GpuNode], bool] = lambda cfg: True


SECRETS_FILE = "homelab-secrets"
# GAIE's CRDs for llm-d, downloaded as they are (not built here).
LLM_D_CRDS_FILE = "homelab-llm-d-crds"
COMPONENTS = [
    Component("homelab-device-plugin", device_plugin),
    Component("homelab-model-cache", model_cache),
    Component("homelab-vllm", vllm),
    Component("homelab-litellm", litellm),
    Component("homelab-gateway", gateway),
    Component("homelab-monitoring", monitoring, lambda cfg: cfg.monitoring_enabled),
    Component("homelab-open-webui", open_webui, lambda cfg: cfg.open_webui_enabled),
    # llm-d's chart is not vendored here: its pods are not in the RAM and CPU plan
    Component("homelab-llm-d", llm_d, lambda cfg: cfg.llm_d_enabled),
]
# Every file this project can write, so that a switched-off component's file is found
# and its objects deleted.
ALL_FILES = [SECRETS_FILE, *(c.file for c in COMPONENTS), LLM_D_CRDS_FILE]


def enabled(ctx: StackContext) -> list[Component]:
    return [c for c in COMPONENTS if c.enabled(ctx.cfg)]


def wanted(ctx: StackContext) -> dict[str, list[dict]]:
    """File name -> objects, for every component switched on (secrets aside)."""
    return {c.file: c.module.manifests(ctx) for c in enabled(ctx)}


def pods(ctx: StackContext) -> list[PodPlan]:
    """Every pod the switched-on components run, on every node."""
    return [pod for c in enabled(ctx) if hasattr(c.module, "pods") for pod in c.module.pods(ctx)]


def dump(objects: list[dict]) -> str:
    header = "# Managed by homelab (pyinfra): written from group_data; the next deploy puts it back.\n"
    return header + yaml.safe_dump_all(objects, sort_keys=False, width=1000)


def secrets_text(ctx: StackContext, store) -> str:
    return dump(secrets.manifests(ctx, store))
