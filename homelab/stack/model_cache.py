"""The model cache: on every GPU node that serves models, a hostPath PersistentVolume
bound to that node and its claim, and one prefetch Job per model, on the model's node,
that downloads the pinned revision's weights and configuration into it once, so vLLM
starts from local files and never needs the hub.

A Job writes its completion marker only when the weights it was told to fetch are on
disk: a repository whose weights are not where the catalogue says (pytorch_model.bin
instead of safetensors) fails the Job instead of leaving an engine without weights."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from homelab.settings import CatalogueModel
from homelab.stack import security
from homelab.stack.cluster_secrets import HF_TOKEN
from homelab.stack.common import MANAGED, PodPlan, Resources, StackContext, secret_ref

# Waits in init containers; small and pinned.
WAIT_IMAGE = "busybox:1.37"
MOUNT = "/models"
# Besides the weights: configuration, tokenizer and chat template files.
SUPPORT_FILES = ["*.json", "*.txt", "*.model", "*.jinja"]
# Runs in the vLLM image (its huggingface_hub); argv[1] is the job as JSON.
PREFETCH = """
import fnmatch, json, os, sys
from pathlib import Path
from huggingface_hub import snapshot_download
job = json.loads(sys.argv[1])
snapshot_download(repo_id=job["repo"], revision=job["revision"], local_dir=job["dir"], allow_patterns=job["patterns"])
files = [p.relative_to(job["dir"]).as_posix() for p in Path(job["dir"]).rglob("*") if p.is_file() and p.stat().st_size]
for pattern in job["weights"]:
    if not any(fnmatch.fnmatch(f, pattern) for f in files):
        sys.exit(f"no weights matching {pattern!r} in {job['repo']}@{job['revision']}: "
                 f"fix weight_files of {job['name']} in group_data/all.py")
Path(job["marker"]).touch()
print(f"{job['repo']}@{job['revision']}: complete")
""".strip()
DOWNLOAD = Resources(cpu=0.25, cpu_limit=2, memory_mib=512)


def claim(node: str) -> str:
    return f"model-cache-{node}"


def model_dir(model: CatalogueModel) -> str:
    return f"{MOUNT}/{model.name}"


def complete_marker(model: CatalogueModel) -> str:
    """Written when the pinned revision is fully downloaded; vLLM's init container waits for it."""
    return f"{model_dir(model)}/.complete-{model.revision[:12]}"


def job_name(model: CatalogueModel, template: dict[str, Any]) -> str:
    """The model, its revision, and the pod template's digest: a Job's template cannot be
    changed, so a changed one is a new Job (k3s deletes the old one with its file's set)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:6]
    return f"prefetch-{model.name[:40]}-{model.revision[:8].lower()}-{digest}"


def volume(node: str) -> dict[str, Any]:
    return {"name": "model-cache", "persistentVolumeClaim": {"claimName": claim(node)}}


def volume_mount(read_only: bool = True) -> dict[str, Any]:
    return {"name": "model-cache", "mountPath": MOUNT, "readOnly": read_only}


def prefetch_command(model: CatalogueModel) -> list[str]:
    """Download the pinned revision, check that every weight pattern matched a file, then
    mark it complete. huggingface_hub's Python API, not the `hf` command: the command's
    --include changed shape in huggingface_hub 1.0 (several patterns after one flag, then
    one flag per pattern), snapshot_download(allow_patterns=...) did not. No shell: the
    job's values reach Python as one JSON argument."""
    job = json.dumps({"repo": model.hf_repo, "revision": model.revision, "dir": model_dir(model),
                      "patterns": [*model.weight_files, *SUPPORT_FILES], "weights": model.weight_files,
                      "marker": complete_marker(model), "name": model.name})
    return ["python3", "-c", PREFETCH, job]


# root, and why: the model cache is a directory of the node's own (hostPath), root's, shared
# by every engine; the Job writes into it. It has no capability beyond root's file ownership.
ACCEPTED = security.checkov_skips(
    security.PINNED_BY_TAG, security.PULL_IF_NOT_PRESENT,
    ("CKV_K8S_23", "root: the download writes into the node's model cache, a root-owned hostPath directory"),
    ("CKV_K8S_40", "root (UID 0), for the reason above"),
)


def _prefetch_job(ctx: StackContext, model: CatalogueModel) -> dict[str, Any]:
    env = [{"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"}, {"name": "HOME", "value": "/tmp"}]
    if ctx.has_hf_token:
        env.append({"name": "HF_TOKEN", **secret_ref(*HF_TOKEN)})
    node = ctx.node_of(model)
    template = {
        "metadata": {"labels": {"homelab/model": model.name}},
        "spec": {"restartPolicy": "OnFailure", "nodeSelector": ctx.on_node(node),
                 "automountServiceAccountToken": False, "securityContext": security.pod_security(non_root=False),
                 "containers": [{"name": "download", "image": ctx.cfg.vllm_image,
                                 "imagePullPolicy": "IfNotPresent",
                                 "command": prefetch_command(model), "env": env,
                                 "securityContext": security.container_security(non_root=False),
                                 "volumeMounts": [volume_mount(read_only=False),
                                                  {"name": "scratch", "mountPath": "/tmp"}],
                                 "resources": DOWNLOAD.spec()}],
                 "volumes": [volume(node), security.scratch_volume()]}}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name(model, template), "namespace": ctx.namespace,
                     "labels": {**MANAGED, "homelab/model": model.name}, "annotations": ACCEPTED},
        "spec": {"backoffLimit": 20, "template": template},
    }


def nodes_with_models(ctx: StackContext) -> list[str]:
    return [node for node in ctx.nodes if ctx.models_on(node)]


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    objects = []
    for node in nodes_with_models(ctx):
        cfg = ctx.nodes[node]
        size = f"{cfg.model_cache_size_gib}Gi"
        # bound to its node: the files are on that node's disk and nowhere else
        affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        objects.append({"apiVersion": "v1", "kind": "PersistentVolume",
                        "metadata": {"name": claim(node), "labels": dict(MANAGED)},
                        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                                 "hostPath": {"path": cfg.model_cache_path, "type": "DirectoryOrCreate"},
                                 "nodeAffinity": affinity,
                                 "claimRef": {"namespace": ctx.namespace, "name": claim(node)}}})
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim(node), "namespace": ctx.namespace, "labels": dict(MANAGED)},
                        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": claim(node),
                                 "resources": {"requests": {"storage": size}}}})
    return [*objects, *(_prefetch_job(ctx, model) for model in ctx.models)]


def pods(ctx: StackContext) -> list[PodPlan]:
    return [PodPlan(_prefetch_job(ctx, m)["metadata"]["name"], ctx.namespace, {"download": DOWNLOAD},
                    node=ctx.node_of(m), transient=True) for m in ctx.models]
