"""vLLM through the production-stack chart (vllm-stack): one modelSpec per enabled
catalogue entry, each loading its weights from the model cache under its catalogue
name, its GPU share from the VRAM planner, prefix caching set explicitly, LMCache CPU
offload where the catalogue asks for it, and the router in front. Engines start one at
a time (each waits for the previous one's /health): they share one GPU and measure free
memory while starting. vLLM is reachable only inside the cluster (ClusterIP) and needs
its API key."""

from __future__ import annotations

from homelab.paths import FILES
from homelab.stack import model_cache
from homelab.stack.common import StackContext, helm_chart, image_parts
from homelab.stack.secrets import VLLM_API_KEY

RELEASE = "vllm"
ROUTER_SERVICE = f"{RELEASE}-router-service"


def engine_service(model) -> str:
    return f"{RELEASE}-{model.name}-engine-service"


def chat_template(name: str) -> str:
    return (FILES / "chat_templates" / name).read_text().strip()


def _init_script(model, previous) -> str:
    wait = (f"until [ -f {model_cache.complete_marker(model)} ]; do echo waiting for the prefetch of {model.name}; "
            "sleep 10; done")
    if previous is not None:
        wait += (f"; until wget -q -O /dev/null http://{engine_service(previous)}/health; do "
                 f"echo waiting for {previous.name} to finish starting; sleep 10; done")
    return wait


def model_spec(ctx: StackContext, model, previous) -> dict:
    share = ctx.plan.share(model.name)
    lmcache = model.lmcache_cpu_gib > 0
    repository, tag = image_parts(ctx.cfg.lmcache_image if lmcache else ctx.cfg.vllm_image)
    decoder = model.kind != "embedding"
    vllm_config = {
        "enablePrefixCaching": decoder,  # set explicitly: unset renders --no-enable-prefix-caching
        "maxModelLen": model.max_model_len,
        "dtype": model.dtype,
        "maxNumSeqs": model.max_num_seqs,
        "gpuMemoryUtilization": share.utilization,
        "extraArgs": ["--served-model-name", model.name],
    }
    if not decoder:
        vllm_config.update(runner="pooling", convert="embed")
    if model.chat_template:
        vllm_config["extraArgs"] += ["--chat-template", chat_template(model.chat_template)]
    spec = {
        "name": model.name,
        "repository": repository,
        "tag": tag,
        "modelURL": model_cache.model_dir(model),
        "replicaCount": 1,
        "requestCPU": 2,
        # the pod holds LMCache's CPU buffer on top of vLLM's own host memory
        "requestMemory": f"{4 + model.lmcache_cpu_gib}Gi",
        "requestGPU": 1,
        "runtimeClassName": "nvidia",
        "enableLoRA": False,
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
        "extraVolumes": [model_cache.volume()],
        "extraVolumeMounts": [model_cache.volume_mount()],
        "initContainer": {"name": "wait-for-model", "image": model_cache.WAIT_IMAGE, "command": ["sh", "-c"],
                          "args": [_init_script(model, previous)], "mountPvcStorage": False,
                          "extraVolumeMounts": [model_cache.volume_mount()]},
        "vllmConfig": vllm_config,
    }
    if lmcache:
        spec["lmcacheConfig"] = {"enabled": True, "cpuOffloadingBufferSize": str(model.lmcache_cpu_gib)}
    return spec


def values(ctx: StackContext) -> dict:
    models = ctx.models
    router_repository, router_tag = image_parts(ctx.cfg.vllm_router_image)
    api_key = {"secretName": VLLM_API_KEY[0], "secretKey": VLLM_API_KEY[1]}
    monitoring = ctx.cfg.monitoring_enabled
    return {
        "servingEngineSpec": {
            "runtimeClassName": "nvidia",
            "imagePullPolicy": "IfNotPresent",
            "vllmApiKey": api_key,
            "serviceMonitor": {"enabled": monitoring},
            "modelSpec": [model_spec(ctx, model, models[i - 1] if i else None) for i, model in enumerate(models)],
        },
        "routerSpec": {
            "enableRouter": True,
            "repository": router_repository,
            "tag": router_tag,
            "imagePullPolicy": "IfNotPresent",
            "serviceType": "ClusterIP",
            "routingLogic": ctx.cfg.router_routing_logic,
            "vllmApiKey": api_key,
            "serviceMonitor": {"enabled": monitoring},
        },
        "grafanaDashboards": {"enabled": monitoring},
    }


def manifests(ctx: StackContext) -> list[dict]:
    return [helm_chart(RELEASE, chart="vllm-stack", repo="https://vllm-project.github.io/production-stack",
                       version=ctx.cfg.vllm_stack_chart_version, namespace=ctx.namespace, values=values(ctx))]
