"""What every stack component shares: the context it is built from and HelmChart objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from homelab.vram import VramPlan

MANAGED = {"app.kubernetes.io/managed-by": "homelab"}


@dataclass(frozen=True)
class StackContext:
    cfg: object  # homelab.settings.GpuNode
    plan: VramPlan
    node_exporters: list[str] = field(default_factory=list)  # "address:port" of the Le Potatoes
    has_hf_token: bool = False
    node_name: str = "gpu-node"
    api_devices: list[str] = field(default_factory=list)  # devices with a live gateway token
    tokens_digest: str = ""  # changes when a token is rotated or revoked

    @property
    def models(self):
        """Enabled catalogue entries, the biggest GPU user first (they start in this order)."""
        enabled = [m for m in self.cfg.models if m.enabled]
        return sorted(enabled, key=lambda m: -self.plan.share(m.name).need_gib)

    @property
    def namespace(self) -> str:
        return self.cfg.stack_namespace

    def service_url(self, service: str, port: int, path: str = "") -> str:
        return f"http://{service}.{self.namespace}.svc.cluster.local:{port}{path}"


def image_parts(image: str) -> tuple[str, str]:
    repository, _, tag = image.rpartition(":")
    return repository, tag


def helm_chart(name: str, *, chart: str, version: str, namespace: str, values: dict, repo: str | None = None) -> dict:
    """A k3s HelmChart: the Helm controller installs it and keeps it at these values."""
    spec = {"chart": chart, "version": version, "targetNamespace": namespace, "createNamespace": True,
            "failurePolicy": "reinstall", "timeout": "15m0s",
            "valuesContent": yaml.safe_dump(values, sort_keys=False, width=1000)}
    if repo:
        spec["repo"] = repo
    return {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": "kube-system", "labels": dict(MANAGED)}, "spec": spec}


def secret_ref(name: str, key: str) -> dict:
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(MANAGED)}}
