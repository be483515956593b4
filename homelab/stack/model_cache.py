"""The model cache: a hostPath PersistentVolume on the node and its claim, and one
prefetch Job per model that downloads the pinned revision's weights (safetensors) into
it once, so vLLM starts from local files and never needs the hub."""

from __future__ import annotations

from homelab.stack.common import MANAGED, StackContext, secret_ref
from homelab.stack.secrets import HF_TOKEN

CLAIM = "model-cache"
# Waits in init containers; small and pinned.
WAIT_IMAGE = "busybox:1.37"
MOUNT = "/models"
FILES = ["*.safetensors", "*.json", "*.txt", "*.model", "*.jinja"]


def model_dir(model) -> str:
    return f"{MOUNT}/{model.name}"


def complete_marker(model) -> str:
    """Written when the pinned revision is fully downloaded; vLLM's init container waits for it."""
    return f"{model_dir(model)}/.complete-{model.revision[:12]}"


def job_name(model) -> str:
    return f"prefetch-{model.name}-{model.revision[:8].lower()}"[:63].rstrip("-")


def volume() -> dict:
    return {"name": CLAIM, "persistentVolumeClaim": {"claimName": CLAIM}}


def volume_mount(read_only: bool = True) -> dict:
    return {"name": CLAIM, "mountPath": MOUNT, "readOnly": read_only}


def _prefetch_job(ctx: StackContext, model) -> dict:
    include = " ".join(f"'{pattern}'" for pattern in FILES)
    script = (f"hf download {model.hf_repo} --revision {model.revision} --local-dir {model_dir(model)} "
              f"--include {include} && touch {complete_marker(model)}")
    env = [{"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"}]
    if ctx.has_hf_token:
        env.append({"name": "HF_TOKEN", **secret_ref(*HF_TOKEN)})
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name(model), "namespace": ctx.namespace,
                     "labels": {**MANAGED, "homelab/model": model.name}},
        "spec": {"backoffLimit": 20, "template": {
            "metadata": {"labels": {"homelab/model": model.name}},
            "spec": {"restartPolicy": "OnFailure",
                     "containers": [{"name": "download", "image": ctx.cfg.vllm_image,
                                     "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", script], "env": env,
                                     "volumeMounts": [volume_mount(read_only=False)],
                                     "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}],
                     "volumes": [volume()]}}},
    }


def manifests(ctx: StackContext) -> list[dict]:
    size = f"{ctx.cfg.model_cache_size_gib}Gi"
    pv = {"apiVersion": "v1", "kind": "PersistentVolume",
          "metadata": {"name": CLAIM, "labels": dict(MANAGED)},
          "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                   "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                   "hostPath": {"path": ctx.cfg.model_cache_path, "type": "DirectoryOrCreate"},
                   "claimRef": {"namespace": ctx.namespace, "name": CLAIM}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": CLAIM, "namespace": ctx.namespace, "labels": dict(MANAGED)},
           "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": CLAIM,
                    "resources": {"requests": {"storage": size}}}}
    return [pv, pvc, *(_prefetch_job(ctx, model) for model in ctx.models)]

