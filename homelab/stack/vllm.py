"""vLLM through the production-stack chart (vllm-stack): one modelSpec per enabled
catalogue entry, each on its GPU node, loading its weights from that node's model cache
under its catalogue name, its GPU share from the node's VRAM plan, prefix caching set
explicitly, LMCache CPU offload where the catalogue asks for it, and the router in front.

Engines sharing a GPU start one after another: vLLM measures free GPU memory while it
starts. Each waits for the previous one's /health, but only for engine_start_wait_seconds:
one engine that cannot start must not keep the others from serving. Engines are
replaced with Recreate: each holds its node's one GPU share for its model, so a second
pod of the same model (a rolling update) could never be scheduled.

vLLM is reachable only inside the cluster (ClusterIP) and needs its API key."""

from __future__ import annotations

import shlex
from typing import Any

from homelab.paths import FILES
from homelab.settings import CatalogueModel
from homelab.stack import model_cache, security
from homelab.stack.cluster_secrets import VLLM_API_KEY
from homelab.stack.common import MANAGED, PodPlan, Resources, StackContext, helm_chart, image_parts

RELEASE = "vllm"
# The engines' ServiceAccount: they never talk to the API server, so no token is mounted
# (the chart cannot set automountServiceAccountToken on the pod; its ServiceAccount can).
ENGINE_ACCOUNT = f"{RELEASE}-engine"
# Scratch space on a read-only root file system: vLLM's caches (torch compile, triton,
# flashinfer under $HOME), its IPC sockets and temporary files, the router's too.
SCRATCH_ENV = [{"name": "HOME", "value": "/tmp"}, {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
               {"name": "DO_NOT_TRACK", "value": "1"}]
ROUTER_SERVICE = f"{RELEASE}-router-service"
# Media (an image for CLIP) arrives inline, as data: URLs, never by address: vLLM 0.11.1 fetches
# http(s) media only from --allowed-media-domains (empty: any), comparing each entry with the
# URL's host as urllib lowercases it (vllm/multimodal/utils.py MediaConnector). An upper-case
# name therefore matches no URL, and no lookup is ever made.
NO_MEDIA_DOMAINS = "NO-MEDIA.INVALID"
# The port engines and the router listen on in their pods (vllm-stack 0.1.12's containerPort);
# their Services listen on 80.
ENGINE_PORT = 8000
ROUTER = Resources(cpu=0.25, cpu_limit=1, memory_mib=768)
WAIT = Resources(cpu=0.01, cpu_limit=0.1, memory_mib=32)


def engine_service(model: CatalogueModel) -> str:
    return f"{RELEASE}-{model.name}-engine-service"


def engine_deployment(model: CatalogueModel) -> str:
    return f"{RELEASE}-{model.name}-deployment-vllm"


def chat_template(name: str) -> str:
    return (FILES / "chat_templates" / name).read_text().strip()


def engine_resources(model: CatalogueModel) -> Resources:
    """vLLM's own host memory, plus LMCache's CPU buffer where the model has one."""
    return Resources(cpu=model.cpu, cpu_limit=model.cpu_limit,
                     memory_mib=int((model.host_memory_gib + model.lmcache_cpu_gib) * 1024))


def start_script(ctx: StackContext, model: CatalogueModel, previous: CatalogueModel | None) -> str:
    """The init container's wait: the model's weights, then (bounded) the previous engine."""
    marker = shlex.quote(model_cache.complete_marker(model))
    script = f"until [ -f {marker} ]; do echo waiting for the prefetch of {model.name}; sleep 10; done"
    if previous is not None:
        limit = ctx.cfg.engine_start_wait_seconds
        health = shlex.quote(f"http://{engine_service(previous)}/health")
        script += (f"; waited=0; until wget -q -T 5 -O /dev/null {health}; do "
                   f"if [ $waited -ge {limit} ]; then echo {previous.name} did not answer within {limit} s: "
                   f"starting {model.name} anyway; break; fi; "
                   f"echo waiting for {previous.name} to finish starting; sleep 5; waited=$((waited + 5)); done")
    return script


def model_spec(ctx: StackContext, model: CatalogueModel, previous: CatalogueModel | None) -> dict[str, Any]:
    node = ctx.node_of(model)
    repository, tag = image_parts(ctx.cfg.vllm_image)
    decoder = model.kind != "embedding"
    vllm_config: dict[str, Any] = {
        "enablePrefixCaching": decoder,  # set explicitly: unset renders --no-enable-prefix-caching
        "maxModelLen": model.max_model_len,
        "dtype": model.dtype,
        "maxNumSeqs": model.max_num_seqs,
        "gpuMemoryUtilization": ctx.share(model).utilization,
        "extraArgs": ["--served-model-name", model.name, "--allowed-media-domains", NO_MEDIA_DOMAINS],
    }
    if not decoder:
        vllm_config.update(runner="pooling", convert="embed")
    if model.chat_template:
        vllm_config["extraArgs"] += ["--chat-template", chat_template(model.chat_template)]
    resources = engine_resources(model)
    spec: dict[str, Any] = {
        "name": model.name,
        "repository": repository,
        "tag": tag,
        "modelURL": model_cache.model_dir(model),
        # a model on demand starts unloaded; homelab-waker scales it. Helm's three-way merge
        # leaves a replica count it did not change alone, so a deploy neither reloads nor
        # unloads what the waker (or game mode) decided
        "replicaCount": 0 if model.on_demand else 1,
        "requestCPU": resources.cpu,
        "limitCPU": resources.cpu_limit,
        "requestMemory": f"{resources.memory_mib}Mi",
        "limitMemory": f"{resources.memory_mib}Mi",
        "requestGPU": 1,
        "runtimeClassName": "nvidia",
        "enableLoRA": False,
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}],
        "serviceAccountName": ENGINE_ACCOUNT,
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}, *SCRATCH_ENV,
                # media by URL is never fetched (above); a redirect would not be re-checked either
                {"name": "VLLM_MEDIA_URL_ALLOW_REDIRECTS", "value": "0"}],
        "extraVolumes": [model_cache.volume(node), security.scratch_volume()],
        "extraVolumeMounts": [model_cache.volume_mount(), {"name": "scratch", "mountPath": "/tmp"}],
        "initContainer": {"name": "wait-for-model", "image": model_cache.WAIT_IMAGE, "command": ["sh", "-c"],
                          "args": [start_script(ctx, model, previous)], "mountPvcStorage": False,
                          "resources": WAIT.spec(), "extraVolumeMounts": [model_cache.volume_mount()]},
        "vllmConfig": vllm_config,
    }
    if model.lmcache_cpu_gib > 0:
        # the chart's cpuOffloadingBufferSize turns the CPU tier on only for a whole number of
        # GB (`gt (int ...) 0`); WSL2's containers pin at most ~500 MB: LMCache's own variables
        spec["lmcacheConfig"] = {"enabled": True}
        spec["env"] += [{"name": "LMCACHE_LOCAL_CPU", "value": "True"},
                        {"name": "LMCACHE_MAX_LOCAL_CPU_SIZE", "value": f"{model.lmcache_cpu_gib:g}"}]
    return spec


def previous_on_node(ctx: StackContext, model: CatalogueModel) -> CatalogueModel | None:
    """The engine that starts before `model` on the same GPU, or None. Only always-loaded
    engines form the chain: one on demand starts when asked, one at a time (homelab-waker),
    and an engine at zero replicas would hold up every one after it."""
    if model.on_demand:
        return None
    on_node = [m for m in ctx.models_on(ctx.node_of(model)) if not m.on_demand]
    index = on_node.index(model)
    return on_node[index - 1] if index else None


def values(ctx: StackContext) -> dict[str, Any]:
    router_repository, router_tag = image_parts(ctx.cfg.vllm_router_image)
    api_key = {"secretName": VLLM_API_KEY[0], "secretKey": VLLM_API_KEY[1]}
    monitoring = ctx.cfg.monitoring_enabled
    return {
        "servingEngineSpec": {
            "runtimeClassName": "nvidia",
            "imagePullPolicy": "IfNotPresent",
            # root, without any capability: vLLM's image runs as root, and the GPU's device
            # nodes on WSL2 (/dev/dxg) are not proven here for another user (no GPU in the lab)
            "securityContext": security.pod_security(non_root=False),
            "containerSecurityContext": security.container_security(non_root=False),
            "vllmApiKey": api_key,
            "strategy": {"type": "Recreate"},
            "serviceMonitor": {"enabled": monitoring},
            "modelSpec": [model_spec(ctx, model, previous_on_node(ctx, model)) for model in ctx.models],
        },
        "routerSpec": {
            "enableRouter": True,
            "repository": router_repository,
            "tag": router_tag,
            "imagePullPolicy": "IfNotPresent",
            "serviceType": "ClusterIP",
            "routingLogic": ctx.cfg.router_routing_logic,
            "vllmApiKey": api_key,
            "resources": ROUTER.spec(),
            # the router (python:3.12-slim, root by default) needs no root: an unprivileged
            # user, a read-only root file system, scratch for its temporary files; it keeps its
            # ServiceAccount's token: it finds the engines through the API server
            "securityContext": security.pod_security(),
            "containerSecurityContext": security.container_security(),
            "env": SCRATCH_ENV[:1],
            "extraVolumes": [security.scratch_volume()],
            "extraVolumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [ctx.node_name]}]}],
            "serviceMonitor": {"enabled": monitoring},
        },
        "grafanaDashboards": {"enabled": monitoring},
    }


def engine_account(ctx: StackContext) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
            "metadata": {"name": ENGINE_ACCOUNT, "namespace": ctx.namespace, "labels": dict(MANAGED)}}


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    return [engine_account(ctx),
            helm_chart(RELEASE, chart="vllm-stack", repo="https://vllm-project.github.io/production-stack",
                       version=ctx.cfg.vllm_stack_chart_version, namespace=ctx.namespace, values=values(ctx))]


def pods(ctx: StackContext) -> list[PodPlan]:
    engines = [PodPlan(engine_deployment(m), ctx.namespace, {"vllm": engine_resources(m)}, {"wait-for-model": WAIT},
                       node=ctx.node_of(m)) for m in ctx.models]
    return [*engines, PodPlan(f"{RELEASE}-deployment-router", ctx.namespace, {"router-container": ROUTER},
                              node=ctx.node_name)]
