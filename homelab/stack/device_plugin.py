"""NVIDIA's device plugin, with time-slicing: the one GPU is offered as one share per
enabled model, so that every model pod can request `nvidia.com/gpu: 1`. Time-slicing
isolates no memory: the VRAM planner's --gpu-memory-utilization shares do that."""

from __future__ import annotations

import yaml

from homelab.stack.common import StackContext, helm_chart

CONFIG_NAME = "homelab-time-slicing"


def gpu_shares(ctx: StackContext) -> int:
    return max(len(ctx.models), 1)


def manifests(ctx: StackContext) -> list[dict]:
    sharing = {"version": "v1", "sharing": {"timeSlicing": {"resources": [
        {"name": "nvidia.com/gpu", "replicas": gpu_shares(ctx)}]}}}
    values = {
        # WSL2: NFD cannot see the GPU; the node carries nvidia.com/gpu.present=true
        # (k3s config), which the chart's default affinity accepts.
        "runtimeClassName": "nvidia",
        "config": {"map": {CONFIG_NAME: yaml.safe_dump(sharing, sort_keys=False)}, "default": CONFIG_NAME},
    }
    return [helm_chart("nvidia-device-plugin", chart="nvidia-device-plugin", repo="https://nvidia.github.io/k8s-device-plugin",
                       version=ctx.cfg.device_plugin_chart_version, namespace="kube-system", values=values)]
