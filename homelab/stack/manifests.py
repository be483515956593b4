"""The stack's one list of components: which manifest file each writes, when it is
switched on, what objects it holds and which pods it runs (for the RAM and CPU plan).
File names are valid Kubernetes object names (k3s names its Addon objects after them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

import yaml

from homelab.settings import GpuNode
from homelab.stack import (
    cluster_secrets,
    device_plugin,
    gateway,
    litellm,
    llm_d,
    model_cache,
    monitoring,
    network_policies,
    open_webui,
    vllm,
)
from homelab.stack.common import PodPlan, StackContext


def _always(cfg: GpuNode) -> bool:
    return True


@dataclass(frozen=True)
class Component:
    """One file in k3s's auto-deploy directory (`file`, without .yaml). Built from
    `module` (its manifests(ctx) and, when it runs pods we plan, pods(ctx)); without a
    module the file is downloaded as it is (`download`: its url and sha256) or, for the
    Secrets, written from the secrets store by the deploy."""

    file: str
    module: ModuleType | None = None
    enabled: Callable[[GpuNode], bool] = _always
    download: Callable[[GpuNode], tuple[str, str]] | None = None


SECRETS = Component("homelab-secrets")
COMPONENTS = [
    SECRETS,
    Component("homelab-device-plugin", device_plugin),
    Component("homelab-model-cache", model_cache),
    Component("homelab-vllm", vllm),
    Component("homelab-litellm", litellm),
    Component("homelab-gateway", gateway),
    Component(network_policies.NAME, network_policies),
    Component("homelab-monitoring", monitoring, lambda cfg: cfg.monitoring_enabled),
    Component("homelab-open-webui", open_webui, lambda cfg: cfg.open_webui_enabled),
    # llm-d's chart is not vendored here: its pods are not in the RAM and CPU plan
    Component("homelab-llm-d", llm_d, lambda cfg: cfg.llm_d_enabled),
    # GAIE's CRDs for llm-d, as upstream publishes them (their sha256 is set whenever llm-d
    # is on: homelab.inventory_checks)
    Component("homelab-llm-d-crds", enabled=lambda cfg: cfg.llm_d_enabled,
              download=lambda cfg: (cfg.llm_d_crds_url, cast(str, cfg.llm_d_crds_sha256))),
]
# Every file this project can write: a switched-off component's file is found and its
# objects deleted.
ALL_FILES = [c.file for c in COMPONENTS]


def enabled(ctx: StackContext) -> list[Component]:
    return [c for c in COMPONENTS if c.enabled(ctx.cfg)]


def wanted(ctx: StackContext) -> dict[str, list[dict[str, Any]]]:
    """File name -> objects, for every component switched on that is built here."""
    return {c.file: c.module.manifests(ctx) for c in enabled(ctx) if c.module is not None}


def pods(ctx: StackContext) -> list[PodPlan]:
    """Every pod the switched-on components run, on every node."""
    return [pod for c in enabled(ctx) if hasattr(c.module, "pods") for pod in c.module.pods(ctx)]  # type: ignore[union-attr]


def dump(objects: list[dict[str, Any]]) -> str:
    header = "# Managed by homelab (pyinfra): written from group_data; the next deploy puts it back.\n"
    return header + yaml.safe_dump_all(objects, sort_keys=False, width=1000)


def secrets_text(ctx: StackContext) -> str:
    return dump(cluster_secrets.manifests(ctx))
