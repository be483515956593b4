"""What every stack component shares: the context it is built from and HelmChart objects."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import yaml

from homelab import vram
from homelab.settings import CatalogueModel, GpuNode
from homelab.vram import ModelShare, VramPlan

if TYPE_CHECKING:
    from homelab.stack.cluster_secrets import ClusterSecrets

MANAGED = {"app.kubernetes.io/managed-by": "homelab"}
# Kubernetes' own label for a node's name; k3s names each node after its inventory host.
NODE_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class StackContext:
    """Everything the stack's objects are built from, resolved once per deploy."""

    nodes: dict[str, GpuNode]  # every GPU node's settings by name, the k3s server first
    node_exporters: list[str] = field(default_factory=list)  # "address:port" of the Le Potatoes
    watchers: list[str] = field(default_factory=list)  # LAN addresses of the Le Potatoes that keep watch
    # the secrets store's values for this deploy; None where only the plan is needed
    secrets: ClusterSecrets | None = None
    # each API device's limits as a tenant (its settings' api_* values), by device name
    tenant_limits: dict[str, dict[str, int | None]] = field(default_factory=dict)

    @property
    def has_hf_token(self) -> bool:
        return self.secrets is not None and self.secrets.hf_token is not None

    @property
    def api_devices(self) -> list[str]:
        """Devices with a live gateway token."""
        return self.secrets.api_devices if self.secrets else []

    @property
    def tokens_digest(self) -> str:
        return self.secrets.tokens_digest if self.secrets else ""

    @property
    def node_name(self) -> str:
        """The k3s server: it runs the gateway, LiteLLM, the router, monitoring and Open WebUI."""
        return next(iter(self.nodes))

    @property
    def cfg(self) -> GpuNode:
        """The server's settings; the stack-wide ones (namespaces, images, ports) are read from here."""
        return self.nodes[self.node_name]

    def node_of(self, model: CatalogueModel) -> str:
        """The GPU node that serves `model` (its catalogue entry's gpu_node, else the server)."""
        return model.gpu_node or self.node_name

    @cached_property
    def plans(self) -> dict[str, VramPlan]:
        """Each GPU node's VRAM plan, for the models placed on it."""
        return {name: vram.plan([m for m in cfg.models if m.enabled and self.node_of(m) == name], cfg.gpu_vram_gib,
                                cfg.gpu_vram_headroom_gib) for name, cfg in self.nodes.items()}

    def share(self, model: CatalogueModel) -> ModelShare:
        return self.plans[self.node_of(model)].share(model.name)

    @property
    def models(self) -> list[CatalogueModel]:
        """Enabled catalogue entries, the biggest GPU user first (they start in this order)."""
        enabled = [m for m in self.cfg.models if m.enabled]
        return sorted(enabled, key=lambda m: -self.share(m).need_gib)

    def models_on(self, node: str) -> list[CatalogueModel]:
        return [m for m in self.models if self.node_of(m) == node]

    @property
    def namespace(self) -> str:
        return self.cfg.stack_namespace

    def service_address(self, service: str, port: int | None = None) -> str:
        """A Service of the stack's namespace by its cluster DNS name (with `port` unless None)."""
        name = f"{service}.{self.namespace}.svc.cluster.local"
        return name if port is None else f"{name}:{port}"

    def service_url(self, service: str, port: int | None = None, path: str = "") -> str:
        return f"http://{self.service_address(service, port)}{path}"

    def on_node(self, node: str | None = None) -> dict[str, str]:
        """A pod spec's nodeSelector that keeps it on `node` (default: the server)."""
        return {NODE_LABEL: node or self.node_name}


@dataclass(frozen=True)
class Resources:
    """What one container asks for and may use: CPU in cores (requested for scheduling
    and the plan, and a cap), memory in MiB, requested and capped at the same value so
    that what the RAM plan counts is what the container can really take from Windows."""

    cpu: float
    cpu_limit: float
    memory_mib: int

    def spec(self) -> dict[str, Any]:
        """Kubernetes' `resources` of a container."""
        memory = f"{self.memory_mib}Mi"
        return {"requests": {"cpu": cpu_quantity(self.cpu), "memory": memory},
                "limits": {"cpu": cpu_quantity(self.cpu_limit), "memory": memory}}


def cpu_quantity(cores: float) -> str:
    millis = math.ceil(cores * 1000 - 1e-9)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


@dataclass(frozen=True)
class PodPlan:
    """One pod the stack runs, as the RAM and CPU planner counts it."""

    name: str  # the workload that makes it (Deployment, StatefulSet, DaemonSet, Job, Prometheus)
    namespace: str
    containers: dict[str, Resources]
    init_containers: dict[str, Resources] = field(default_factory=dict)
    node: str = ""  # the node it runs on
    transient: bool = False  # a Job's pod: gone once it has done its work

    @property
    def cpu(self) -> float:
        """What the scheduler reserves: the larger of the containers' sum and any one init container."""
        return max([sum(c.cpu for c in self.containers.values()), *(c.cpu for c in self.init_containers.values())])

    @property
    def memory_mib(self) -> int:
        return max([sum(c.memory_mib for c in self.containers.values()),
                    *(c.memory_mib for c in self.init_containers.values())])


def image_parts(image: str) -> tuple[str, str]:
    repository, _, tag = image.rpartition(":")
    return repository, tag


def helm_chart(name: str, *, chart: str, version: str, namespace: str, values: dict[str, Any],
               repo: str | None = None) -> dict[str, Any]:
    """A k3s HelmChart: the Helm controller installs it and keeps it at these values. A failed
    upgrade is left as it failed (`abort`): the default, `reinstall`, uninstalls the release
    and installs it again, which deletes the volumes a chart owns (Open WebUI's users and
    chats, Grafana's state; helm-controller #246). doctor names a failed one."""
    spec = {"chart": chart, "version": version, "targetNamespace": namespace, "createNamespace": True,
            "failurePolicy": "abort", "timeout": "15m0s",
            "valuesContent": yaml.safe_dump(values, sort_keys=False, width=1000)}
    if repo:
        spec["repo"] = repo
    return {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": "kube-system", "labels": dict(MANAGED)}, "spec": spec}


def secret_ref(name: str, key: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def namespace(name: str, level: str) -> dict[str, Any]:
    """A namespace whose pods Pod Security Admission holds to `level` (privileged, baseline
    or restricted: the strictest its pods meet), warning and auditing against restricted."""
    labels = {**MANAGED, "pod-security.kubernetes.io/enforce": level,
              "pod-security.kubernetes.io/enforce-version": "latest",
              "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
