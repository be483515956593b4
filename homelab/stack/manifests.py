"""The stack's one list of components: which manifest file each writes, when it is
switched on, what objects it holds and which pods it runs (for the RAM and CPU plan).
File names are valid Kubernetes object names (k3s names its Addon objects after them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

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


class StackModule(Protocol):
    """What a module under homelab/stack/ offers (the module itself is the implementation):
    the objects of its manifest, and the pods they run on the GPU nodes for the RAM and CPU
    plan ([] when it plans none)."""

    def manifests(self, ctx: StackContext) -> list[dict[str, Any]]: ...

    def pods(self, ctx: StackContext) -> list[PodPlan]: ...


def _always(cfg: GpuNode) -> bool:
    return True


@dataclass(frozen=True)
class Component:
    """One file in k3s's auto-deploy directory (`file`, without .yaml). Built from
    `module`; without a module the file is downloaded as it is (`download`: its url and
    sha256) or, for the Secrets, written from the secrets store by the deploy."""

    file: str
    module: StackModule | None = None
    enabled: Callable[[GpuNode], bool] = _always
    download: Callable[[GpuNode], tuple[str, str]] | None = None


# Each manifest's one name: the file (k3s's Addon object) and what other modules refer to.
SECRETS = Component("homelab-secrets")
DEVICE_PLUGIN = Component("homelab-device-plugin", device_plugin)
MODEL_CACHE = Component("homelab-model-cache", model_cache)
VLLM = Component("homelab-vllm", vllm)
LITELLM = Component("homelab-litellm", litellm)
GATEWAY = Component("homelab-gateway", gateway)
NETWORK_POLICIES = Component("homelab-network-policies", network_policies)
MONITORING = Component("homelab-monitoring", monitoring, lambda cfg: cfg.monitoring_enabled)
OPEN_WEBUI = Component("homelab-open-webui", open_webui, lambda cfg: cfg.open_webui_enabled)
LLM_D = Component("homelab-llm-d", llm_d, lambda cfg: cfg.llm_d_enabled)
# GAIE's CRDs for llm-d, as upstream publishes them (their sha256 is set whenever llm-d is
# on: homelab.inventory_checks)
LLM_D_CRDS = Component("homelab-llm-d-crds", enabled=lambda cfg: cfg.llm_d_enabled,
                       download=lambda cfg: (cfg.llm_d_crds_url, cast(str, cfg.llm_d_crds_sha256)))
COMPONENTS = [SECRETS, DEVICE_PLUGIN, MODEL_CACHE, VLLM, LITELLM, GATEWAY, NETWORK_POLICIES, MONITORING, OPEN_WEBUI,
              LLM_D, LLM_D_CRDS]
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
    return [pod for c in enabled(ctx) if c.module is not None for pod in c.module.pods(ctx)]


def dump(objects: list[dict[str, Any]]) -> str:
    header = "# Managed by homelab (pyinfra): written from group_data; the next deploy puts it back.\n"
    return header + yaml.safe_dump_all(objects, sort_keys=False, width=1000)


def secrets_text(ctx: StackContext) -> str:
    return dump(cluster_secrets.manifests(ctx))
