"""LiteLLM, the OpenAI-compatible API (model names, routing to vLLM) behind the gateway
(Caddy, homelab/stack/gateway.py): its config.yaml (model_list generated
from the catalogue) and the homelab guard callback (files/litellm/homelab_guard.py:
no endpoints or credentials from request bodies) in a ConfigMap, the master key and
vLLM's API key from Secrets, the Prometheus callback on. A NetworkPolicy lets it reach
only the vLLM router and the cluster's DNS. Plain manifests: LiteLLM's own chart insists
on a database, which a proxy without virtual keys does not need."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from homelab.paths import FILES
from homelab.settings import CatalogueModel
from homelab.stack import vllm
from homelab.stack.cluster_secrets import LITELLM_MASTER_KEY, VLLM_API_KEY
from homelab.stack.common import MANAGED, PodPlan, Resources, StackContext, secret_ref

NAME = "litellm"
PORT = 4000
MODES = {"chat": "chat", "completion": "completion", "embedding": "embedding"}
DEVICE_HEADER = "X-Homelab-Device"
GUARD_MODULE = "homelab_guard"
LITELLM = Resources(cpu=0.5, cpu_limit=2, memory_mib=1536)
# The router's Service listens on 80 and forwards to the router pod's port.
ROUTER_POD_PORT = 8000


def guard_source() -> str:
    return (FILES / "litellm" / f"{GUARD_MODULE}.py").read_text()


def litellm_config(models: list[CatalogueModel]) -> dict[str, Any]:
    """LiteLLM's config.yaml. Keys and the upstream come from the environment
    (os.environ/...), never inline: the same file runs in the cluster and in the tests."""
    model_list = []
    for model in models:
        # hosted_vllm speaks vLLM's chat/completions dialect; embeddings go through the
        # plain OpenAI-compatible client.
        provider = "openai" if model.kind == "embedding" else "hosted_vllm"
        model_list.append({
            "model_name": model.name,
            "litellm_params": {"model": f"{provider}/{model.name}", "api_base": "os.environ/VLLM_API_BASE",
                               "api_key": "os.environ/VLLM_API_KEY"},
            "model_info": {"mode": MODES[model.kind], "input_modalities": list(model.inputs)},
        })
    return {
        "model_list": model_list,
        # the gateway names the device in X-Homelab-Device: LiteLLM's end user in logs and metrics
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY",
                             "user_header_mappings": [{"header_name": DEVICE_HEADER, "litellm_user_role": "customer"}]},
        # metrics per device (a handful of end users: no cardinality worry); the metrics
        # endpoint is in-cluster only, the gateway never forwards it
        "litellm_settings": {"callbacks": ["prometheus", f"{GUARD_MODULE}.guard"],
                             "require_auth_for_metrics_endpoint": False,
                             "enable_end_user_cost_tracking_prometheus_only": True, "drop_params": True},
    }


def config_text(ctx: StackContext) -> str:
    return yaml.safe_dump(litellm_config(ctx.models), sort_keys=False)


def api_base(ctx: StackContext) -> str:
    return ctx.service_url(vllm.ROUTER_SERVICE, path="/v1")  # the router's Service listens on 80


def network_policy(ctx: StackContext) -> dict[str, Any]:
    """LiteLLM may talk to the vLLM router and DNS, nothing else (k3s enforces policies)."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"{NAME}-egress", "namespace": ctx.namespace, "labels": dict(MANAGED)},
        "spec": {"podSelector": {"matchLabels": {"app": NAME}}, "policyTypes": ["Egress"], "egress": [
            {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "router",
                                                     "app.kubernetes.io/instance": vllm.RELEASE}}}],
             "ports": [{"protocol": "TCP", "port": ROUTER_POD_PORT}]},
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                     "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
             "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        ]},
    }


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    text = config_text(ctx)
    guard = guard_source()
    labels = {**MANAGED, "app": NAME}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{NAME}-config", "namespace": ctx.namespace, "labels": labels},
                  "data": {"config.yaml": text, f"{GUARD_MODULE}.py": guard}}
    probe = {"httpGet": {"path": "/health/liveliness", "port": PORT}, "periodSeconds": 15, "failureThreshold": 4}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": NAME}}, "template": {
            # the pod restarts when its configuration changes
            "metadata": {"labels": {"app": NAME}, "annotations": {
                "homelab/config-sha256": hashlib.sha256((text + guard).encode()).hexdigest()}},
            "spec": {"nodeSelector": ctx.on_node(), "containers": [{
                "name": NAME, "image": ctx.cfg.litellm_image, "imagePullPolicy": "IfNotPresent",
                "args": ["--config", "/etc/litellm/config.yaml", "--port", str(PORT)],
                "env": [{"name": "LITELLM_MASTER_KEY", **secret_ref(*LITELLM_MASTER_KEY)},
                        {"name": "VLLM_API_KEY", **secret_ref(*VLLM_API_KEY)},
                        {"name": "VLLM_API_BASE", "value": api_base(ctx)}],
                "ports": [{"name": "http", "containerPort": PORT}],
                "readinessProbe": {**probe, "httpGet": {"path": "/health/readiness", "port": PORT}},
                "livenessProbe": probe,
                "resources": LITELLM.spec(),
                "volumeMounts": [{"name": "config", "mountPath": "/etc/litellm", "readOnly": True}],
            }], "volumes": [{"name": "config", "configMap": {"name": f"{NAME}-config"}}]}}},
    }
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": labels},
               "spec": {"type": "ClusterIP", "selector": {"app": NAME},
                        "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]}}
    return [config_map, deployment, service, network_policy(ctx)]


def pods(ctx: StackContext) -> list[PodPlan]:
    return [PodPlan(NAME, ctx.namespace, {NAME: LITELLM}, node=ctx.node_name)]
