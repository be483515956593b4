"""NVIDIA's device plugin, with time-slicing: each GPU node offers its one GPU as one
share per model placed on it, so that every model pod can request `nvidia.com/gpu: 1`.
Time-slicing isolates no memory: the VRAM plan's --gpu-memory-utilization shares do that.

Each node picks its own sharing config through the label nvidia.com/device-plugin.config
(set in its k3s config). The plugin runs in a namespace of its own whose LimitRange
gives the chart's config-manager containers, which have no resources key, their
requests and limits."""

from __future__ import annotations

from typing import Any

import yaml

from homelab.stack.common import MANAGED, PodPlan, Resources, StackContext, helm_chart, namespace

NAMESPACE = "nvidia-device-plugin"
RELEASE = "nvidia-device-plugin"
CONFIG_LABEL = "nvidia.com/device-plugin.config"
PLUGIN = Resources(cpu=0.05, cpu_limit=0.5, memory_mib=128)
# What the LimitRange gives containers the chart leaves without resources.
CONTAINER_DEFAULT = Resources(cpu=0.01, cpu_limit=0.1, memory_mib=64)


def config_name(node: str) -> str:
    return f"homelab-{node}"


def gpu_shares(ctx: StackContext, node: str) -> int:
    return max(len(ctx.models_on(node)), 1)


def limit_range(ns: str, default: Resources) -> dict[str, Any]:
    """Requests and limits for every container of `ns` that brings none of its own."""
    spec = default.spec()
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": "homelab-defaults", "namespace": ns, "labels": dict(MANAGED)},
            "spec": {"limits": [{"type": "Container", "defaultRequest": spec["requests"], "default": spec["limits"]}]}}


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    configs = {config_name(node): yaml.safe_dump({"version": "v1", "sharing": {"timeSlicing": {"resources": [
        {"name": "nvidia.com/gpu", "replicas": gpu_shares(ctx, node)}]}}}, sort_keys=False) for node in ctx.nodes}
    values = {
        # WSL2: NFD cannot see the GPU; each node carries nvidia.com/gpu.present=true
        # (k3s config), which the chart's default affinity accepts.
        "runtimeClassName": "nvidia",
        "config": {"map": configs, "default": config_name(ctx.node_name)},
        "resources": PLUGIN.spec(),
    }
    # privileged: NVIDIA's plugin talks to the kubelet's device socket (hostPath) with SYS_ADMIN
    return [namespace(NAMESPACE, "privileged"), limit_range(NAMESPACE, CONTAINER_DEFAULT),
            helm_chart(RELEASE, chart="nvidia-device-plugin", repo="https://nvidia.github.io/k8s-device-plugin",
                       version=ctx.cfg.device_plugin_chart_version, namespace=NAMESPACE, values=values)]


def pods(ctx: StackContext) -> list[PodPlan]:
    """One plugin pod per GPU node (the chart's DaemonSet)."""
    return [PodPlan(RELEASE, NAMESPACE, {"nvidia-device-plugin-sidecar": CONTAINER_DEFAULT,
                                         "nvidia-device-plugin-ctr": PLUGIN},
                    {"nvidia-device-plugin-init": CONTAINER_DEFAULT}, node=node) for node in ctx.nodes]
