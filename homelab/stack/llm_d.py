"""llm-d's router (the Gateway API Inference Extension's "standalone" chart: the EPP
scheduler with an Envoy sidecar) in front of the chat model's vLLM pods. An optional
profile, off by default: on one GPU there is one engine per model to route to, so the
vLLM router already does the job; switch it on to try llm-d's prefix/KV-aware picks.
Its CRDs (InferencePool, ...) are downloaded and checked against llm_d_crds_sha256."""

from __future__ import annotations

from typing import Any

from homelab.stack import vllm
from homelab.stack.common import PodPlan, StackContext, helm_chart

CHART = "oci://registry.k8s.io/gateway-api-inference-extension/charts/standalone"


def values(ctx: StackContext) -> dict[str, Any]:
    chat = next((m for m in ctx.models if m.kind == "chat"), ctx.models[0])
    return {
        "provider": {"name": "none"},
        "inferencePool": {"modelServerType": "vllm", "targetPorts": [{"number": 8000}],
                          "modelServers": {"matchLabels": {"model": chat.name, "helm-release-name": vllm.RELEASE}}},
    }


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    return [helm_chart("llm-d-router", chart=CHART, version=ctx.cfg.llm_d_chart_version, namespace=ctx.namespace,
                       values=values(ctx))]


def pods(ctx: StackContext) -> list[PodPlan]:
    """None planned: llm-d's chart is not vendored here, so its pods' resources are unknown."""
    return []
