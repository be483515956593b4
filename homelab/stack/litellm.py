"""LiteLLM, the OpenAI-compatible API (model names, routing to vLLM) behind the gateway
(Caddy, homelab/stack/gateway.py): its config.yaml (model_list generated from the
catalogue), the tenants it knows and homelab's door (files/litellm/: homelab_guard.py
knows each caller by its own key and allows it its routes only; homelab_api.py is the
positive model of the request bodies it accepts) in a ConfigMap, the keys from Secrets.
Metrics are the door's (/door-metrics, behind Prometheus's key): LiteLLM runs no metrics
callback, which cost about 1 ms per request. Plain manifests: LiteLLM's own chart
insists on a database, which a proxy without virtual keys does not need."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from homelab.paths import FILES
from homelab.settings import CatalogueModel
from homelab.stack import security, vllm
from homelab.stack.cluster_secrets import (
    LITELLM_GATEWAY_KEY,
    LITELLM_MASTER_KEY,
    LITELLM_METRICS_KEY,
    LITELLM_OPEN_WEBUI_KEY,
    VLLM_API_KEY,
    WAKER_TOKEN,
    WAKER_TOKEN_ENV,
)
from homelab.stack.common import MANAGED, NODE_LABEL, PodPlan, Resources, StackContext, secret_ref

NAME = "litellm"
PORT = 4000
MODES = {"chat": "chat", "completion": "completion", "embedding": "embedding"}
DEVICE_HEADER = "X-Homelab-Device"
GUARD_MODULE = "homelab_guard"
CONFIG_DIR = "/etc/litellm"
# shipped beside config.yaml: the door (custom auth + guard) and the API's positive model
PROGRAMS = ("homelab_door.py", "homelab_tenants.py", "homelab_guard.py", "homelab_api.py")
DOOR_FILE = "door.json"
# The tenants' usage store (homelab_tenants.py): a directory of the k3s server's own disk,
# made by the deploy for the pod's user, a PersistentVolume of the pod (quotas outlive it).
USAGE_DIR = "/var/lib/homelab/usage"
USAGE_FILE = f"{USAGE_DIR}/usage.json"
USAGE_MOUNT = "/var/lib/homelab-usage"
USAGE_VOLUME = f"{NAME}-usage"
# LiteLLM listens on the pod's loopback only; the door (homelab_door.py) takes the Service's
# port and lets through what passes it.
LITELLM_PORT = 4001
OPEN_WEBUI_TENANT = "open-webui"
# the environment variables homelab_guard.py reads each caller's key from
GUARD_KEYS = ("HOMELAB_GATEWAY_KEY", "HOMELAB_OPEN_WEBUI_KEY")
# ... and those the door reads (Prometheus's key too)
CALLER_KEYS = {"HOMELAB_GATEWAY_KEY": LITELLM_GATEWAY_KEY, "HOMELAB_OPEN_WEBUI_KEY": LITELLM_OPEN_WEBUI_KEY,
               "HOMELAB_METRICS_KEY": LITELLM_METRICS_KEY}
LITELLM = Resources(cpu=0.5, cpu_limit=2, memory_mib=1536)
# the door parses every body (up to gateway_body_limit_mb of JSON) before LiteLLM does: parsed
# JSON takes some 35 times its text's size in Python, for the time it is checked
DOOR = Resources(cpu=0.1, cpu_limit=1, memory_mib=512)


def programs() -> dict[str, str]:
    """The door's Python files, by name, as shipped in the ConfigMap."""
    return {name: (FILES / "litellm" / name).read_text() for name in PROGRAMS}


def door(ctx: StackContext) -> dict[str, Any]:
    """What the door and the guard know (door.json): who may call (every device with a
    gateway token, through the gateway's key; Open WebUI through its own) and the models
    served, by kind."""
    known: dict[str, dict[str, Any]] = {device: {"credential": "gateway", "limits": ctx.tenant_limits.get(device, {})}
                                        for device in ctx.api_devices}
    if ctx.cfg.open_webui_enabled:
        known[OPEN_WEBUI_TENANT] = {"credential": "open-webui", "limits": ctx.cfg.open_webui_limits}
    from homelab import waker  # (homelab.waker builds on the stack's modules)

    return {"tenants": known, "models": {model.name: MODES[model.kind] for model in ctx.models},
            "quota_store_failure": ctx.cfg.quota_store_failure, "waker": waker.door_settings(ctx)}


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
        # homelab_guard.authenticate knows every caller by its own key (the master key opens
        # nothing) and names the tenant
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY",
                             "custom_auth": f"{GUARD_MODULE}.authenticate"},
        # one request is one attempt at the engine: the client cannot ask for retries (the
        # guard refuses num_retries and its headers). No "prometheus" callback: the door counts
        # requests, tokens and durations per tenant; LiteLLM's cost about 1 ms per request
        # (tasks.py bench gateway, issue 18)
        "litellm_settings": {"callbacks": [f"{GUARD_MODULE}.guard"], "drop_params": True, "num_retries": 0},
        "router_settings": {"num_retries": 0, "allowed_fails": 3, "cooldown_time": 5},
    }


def config_text(ctx: StackContext) -> str:
    return yaml.safe_dump(litellm_config(ctx.models), sort_keys=False)


def api_base(ctx: StackContext) -> str:
    return ctx.service_url(vllm.ROUTER_SERVICE, path="/v1")  # the router's Service listens on 80


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    data = {"config.yaml": config_text(ctx), DOOR_FILE: json.dumps(door(ctx), indent=1, sort_keys=True),
            **programs()}
    labels = {**MANAGED, "app": NAME}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{NAME}-config", "namespace": ctx.namespace, "labels": labels},
                  "data": data}
    # the door's /healthz asks LiteLLM's liveliness on the loopback
    probe = {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 15, "failureThreshold": 4}
    keys = [{"name": name, **secret_ref(*key)} for name, key in CALLER_KEYS.items()]
    if any(m.on_demand for m in ctx.models):  # the door asks the node's waker with its token
        keys.append({"name": WAKER_TOKEN_ENV, **secret_ref(*WAKER_TOKEN)})
    # both containers: the unprivileged user, a read-only root, scratch in /tmp, the config
    common = {"image": ctx.cfg.litellm_image, "imagePullPolicy": "IfNotPresent",
              "securityContext": security.container_security(),
              "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                               {"name": "scratch", "mountPath": "/tmp"}]}
    door_container = {
        "name": "door", **common, "command": ["python3", f"{CONFIG_DIR}/homelab_door.py"],
        "env": [*keys, {"name": "HOMELAB_DOOR_PORT", "value": str(PORT)},
                {"name": "HOMELAB_DOOR_UPSTREAM", "value": f"http://127.0.0.1:{LITELLM_PORT}"},
                {"name": "HOMELAB_DOOR_TIMEOUT_SECONDS", "value": str(ctx.cfg.gateway_timeout_minutes * 60)},
                {"name": "HOMELAB_DOOR_MAX_BODY_MB", "value": str(ctx.cfg.gateway_body_limit_mb)},
                {"name": "HOMELAB_DOOR_USAGE_FILE", "value": f"{USAGE_MOUNT}/usage.json"},
                {"name": "PYTHONPATH", "value": CONFIG_DIR}, {"name": "HOME", "value": "/tmp"}],
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": probe, "livenessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 15},
        "resources": DOOR.spec()}
    door_container["volumeMounts"] = [*common["volumeMounts"], {"name": "usage", "mountPath": USAGE_MOUNT}]
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": labels, "annotations": security.checkov_skips(
            security.PINNED_BY_TAG, security.PULL_IF_NOT_PRESENT,
            ("CKV_K8S_35", "LiteLLM's config.yaml reads its keys from the environment (os.environ/...)"))},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": NAME}}, "template": {
            # the pod restarts when its configuration changes
            "metadata": {"labels": {"app": NAME}, "annotations": {
                "homelab/config-sha256": hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()}},
            # LiteLLM's image runs as root by default; nothing it does here needs root: it reads its
            # config and code, and writes only temporary files (the root file system is read-only;
            # the admin UI's files it would rename at start are not used: no database, no UI)
            "spec": {"nodeSelector": ctx.on_node(), "automountServiceAccountToken": False,
                     "securityContext": security.pod_security(), "containers": [door_container, {
                "name": NAME, **common,
                "args": ["--config", f"{CONFIG_DIR}/config.yaml", "--host", "127.0.0.1", "--port", str(LITELLM_PORT)],
                # the keys its guard checks (homelab_guard.CREDENTIALS): not Prometheus's, not the waker's
                "env": [{"name": "LITELLM_MASTER_KEY", **secret_ref(*LITELLM_MASTER_KEY)},
                        *(entry for entry in keys if entry["name"] in GUARD_KEYS),
                        {"name": "VLLM_API_KEY", **secret_ref(*VLLM_API_KEY)},
                        {"name": "VLLM_API_BASE", "value": api_base(ctx)},
                        # the price map is in the image; the NetworkPolicy would only delay a download
                        {"name": "LITELLM_LOCAL_MODEL_COST_MAP", "value": "True"},
                        # homelab_guard.py imports homelab_api.py from beside it
                        {"name": "PYTHONPATH", "value": CONFIG_DIR},
                        {"name": "HOME", "value": "/tmp"}],
                # LiteLLM answers on the loopback only: its health is asked through the door
                "readinessProbe": probe, "livenessProbe": probe,
                "resources": LITELLM.spec(),
            }], "volumes": [{"name": "config", "configMap": {"name": f"{NAME}-config"}}, security.scratch_volume(),
                            {"name": "usage", "persistentVolumeClaim": {"claimName": USAGE_VOLUME}}]}}},
    }
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": labels},
               "spec": {"type": "ClusterIP", "selector": {"app": NAME},
                        "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]}}
    return [config_map, deployment, service, *usage_volume(ctx)]


def usage_volume(ctx: StackContext) -> list[dict[str, Any]]:
    """The usage store's PersistentVolume (the server's directory, bound to it) and claim."""
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": NODE_LABEL, "operator": "In", "values": [ctx.node_name]}]}]}}
    return [{"apiVersion": "v1", "kind": "PersistentVolume",
             "metadata": {"name": USAGE_VOLUME, "labels": dict(MANAGED)},
             "spec": {"capacity": {"storage": "64Mi"}, "accessModes": ["ReadWriteOnce"],
                      "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                      "hostPath": {"path": USAGE_DIR, "type": "Directory"}, "nodeAffinity": affinity,
                      "claimRef": {"namespace": ctx.namespace, "name": USAGE_VOLUME}}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": USAGE_VOLUME, "namespace": ctx.namespace, "labels": dict(MANAGED)},
             "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": USAGE_VOLUME,
                      "resources": {"requests": {"storage": "64Mi"}}}}]


def pods(ctx: StackContext) -> list[PodPlan]:
    return [PodPlan(NAME, ctx.namespace, {"door": DOOR, NAME: LITELLM}, node=ctx.node_name)]
