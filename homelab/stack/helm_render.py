"""What k3s's Helm controller would install: every HelmChart of the stack rendered with
real Helm and the pinned chart archive (charts/<chart>-<version>.tgz, checked against
charts/SHA256SUMS), next to the plain objects. Used by `tasks.py images` and the tests;
nothing deployed needs Helm (k3s installs the releases itself)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import yaml

from homelab.paths import PROJECT_ROOT

CHARTS_DIR = PROJECT_ROOT / "charts"
# The cluster k3s_version runs (the render asks Helm for what this Kubernetes offers).
KUBE_VERSION = "v1.34.2"
# APIs the cluster has besides Kubernetes' own: the HelmChart CRD (k3s) and the
# Prometheus operator's (installed by kube-prometheus-stack in the same cluster).
EXTRA_API_VERSIONS = ["helm.cattle.io/v1", "monitoring.coreos.com/v1"]


class RenderError(Exception):
    pass


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml's or not
    """PyYAML's safe loader (libyaml's parser where PyYAML has it: the Prometheus operator's
    CRDs take 8 times longer in pure Python), reading a bare `=` (YAML 1.1's "value" key,
    used in an enum of those CRDs) as the string it is in YAML 1.2."""


def _construct_value(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:value", _construct_value)


def _documents(text: str) -> list[dict[str, Any]]:
    return [obj for obj in yaml.load_all(text, Loader=_Loader) if obj]


@dataclass(frozen=True)
class Rendered:
    """One object of what the cluster would run, and where it came from."""

    obj: dict[str, Any]
    source: str  # the manifest file, and the HelmChart when Helm rendered it: "homelab-vllm.yaml/vllm"

    @property
    def kind(self) -> str:
        kind: str = self.obj.get("kind", "")
        return kind

    @property
    def name(self) -> str:
        name: str = self.obj.get("metadata", {}).get("name", "")
        return name


# The Helm the render is proven with (scripts/install_helm.sh pins v4.1.4); any Helm 4 renders these charts.
HELM_MAJOR = "v4."


def helm_binary(major: str = HELM_MAJOR, name: str = "helm") -> str:
    """The Helm to render with: $HOMELAB_HELM (or $HOMELAB_HELM3), .tools/bin, the PATH."""
    variable = "HOMELAB_HELM" if name == "helm" else f"HOMELAB_{name.upper()}"
    for candidate in (os.environ.get(variable), str(PROJECT_ROOT / ".tools" / "bin" / name), shutil.which(name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            version = subprocess.run([candidate, "version", "--short"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
            if not version.startswith(major):
                raise RenderError(f"{candidate} is Helm {version or '(unknown)'}; the render needs Helm {major}x "
                                  "(scripts/install_helm.sh on Linux, `brew install helm` on the MacBook)")
            return candidate
    raise RenderError("Helm is not installed: run scripts/install_helm.sh on Linux, `brew install helm` on the MacBook")


def helm3_binary() -> str:
    """Helm 3, the line k3s's Helm controller runs (scripts/install_helm.sh pins v3.17.2 as helm3)."""
    return helm_binary("v3.", "helm3")


def _pinned_sums() -> dict[str, str]:
    sums = {}
    for line in (CHARTS_DIR / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        sums[name.strip()] = digest
    return sums


def chart_archive(chart: str, version: str) -> Path:
    """The pinned archive of `chart` at `version`, checked by sha256."""
    name = f"{Path(chart).name}-{version.lstrip('v') if chart.startswith('oci://') else version}.tgz"
    path = CHARTS_DIR / name
    expected = _pinned_sums().get(name)
    if not path.is_file() or expected is None:
        raise RenderError(f"no pinned chart archive {name} in {CHARTS_DIR} (listed in SHA256SUMS)")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise RenderError(f"{path} has sha256 {actual}, SHA256SUMS pins {expected}")
    with tarfile.open(path) as archive:
        # a regular file in the archive: extractfile's None is for other kinds of member
        meta = yaml.safe_load(cast(IO[bytes], archive.extractfile(f"{Path(chart).name}/Chart.yaml")).read())
    if str(meta.get("version")) != version:
        raise RenderError(f"{path} holds chart version {meta.get('version')}, the HelmChart asks for {version}")
    return path


def helm_template(helm_chart: dict[str, Any], helm: str | None = None,
                  include_crds: bool = False) -> list[dict[str, Any]]:
    """`helm template` of one HelmChart object, as k3s's Helm controller would install it
    (`include_crds`: with the CRDs it installs first, those of switched-off subcharts left out)."""
    spec = helm_chart["spec"]
    archive = chart_archive(spec["chart"], spec["version"])
    with tempfile.TemporaryDirectory() as work:
        values = Path(work) / "values.yaml"
        values.write_text(spec.get("valuesContent") or "")
        cmd = [helm or helm_binary(), "template", helm_chart["metadata"]["name"], str(archive),
               "--namespace", spec["targetNamespace"], "--kube-version", KUBE_VERSION, "--values", str(values)]
        if include_crds:
            cmd.append("--include-crds")
        for api in EXTRA_API_VERSIONS:
            cmd += ["--api-versions", api]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RenderError(f"helm template {helm_chart['metadata']['name']} failed: {proc.stderr.strip()[-2000:]}")
    return _documents(proc.stdout)


def chart_crds(chart: str, version: str, helm: str | None = None) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions a chart installs (from its crds/ folder)."""
    proc = subprocess.run([helm or helm_binary(), "show", "crds", str(chart_archive(chart, version))],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RenderError(f"helm show crds {chart} failed: {proc.stderr.strip()[-2000:]}")
    return _documents(proc.stdout)


def render(manifests: dict[str, list[dict[str, Any]]], helm: str | None = None) -> list[Rendered]:
    """Every object of every manifest file, HelmCharts replaced by what they install."""
    helm = helm or helm_binary()
    out: list[Rendered] = []
    for file_name, objects in manifests.items():
        for obj in objects:
            if obj.get("kind") == "HelmChart":
                source = f"{file_name}/{obj['metadata']['name']}"
                out += [Rendered(o, source) for o in helm_template(obj, helm)]
            else:
                out.append(Rendered(obj, file_name))
    return out


@dataclass(frozen=True)
class Workload:
    """A rendered object that makes pods: its pod spec and how many pods per replica set."""

    item: Rendered
    pod: dict[str, Any]  # a PodSpec
    replicas: int  # pods it makes (DaemonSets: per matching node)

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def namespace(self) -> str:
        namespace: str = self.item.obj.get("metadata", {}).get("namespace", "")
        return namespace

    @property
    def containers(self) -> list[dict[str, Any]]:
        containers: list[dict[str, Any]] = self.pod.get("containers", [])
        return containers

    @property
    def labels(self) -> dict[str, str]:
        """The labels its pods carry (a Prometheus pod's: those its operator sets, as the
        operator's Service selects them)."""
        spec = self.item.obj.get("spec") or {}
        if self.item.kind == "Prometheus":
            return {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": self.name,
                    **((spec.get("podMetadata") or {}).get("labels") or {})}
        template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or {}
        labels: dict[str, str] = (template.get("metadata") or {}).get("labels") or {}
        return labels

    @property
    def init_containers(self) -> list[dict[str, Any]]:
        init_containers: list[dict[str, Any]] = self.pod.get("initContainers", [])
        return init_containers


def _operator_reloader(objects: list[Rendered]) -> dict[str, Any]:
    """The config-reloader container the Prometheus operator adds to Prometheus pods,
    from the operator's own arguments (image and resources)."""
    for item in objects:
        if item.kind != "Deployment":
            continue
        for container in item.obj["spec"]["template"]["spec"].get("containers", []):
            args = dict(a.removeprefix("--").split("=", 1) for a in container.get("args", []) if "=" in a)
            if "prometheus-config-reloader" in args:
                def quantity(key: str, args: dict[str, str] = args) -> str | None:
                    return args.get(key) if args.get(key) not in (None, "0") else None
                requests = {k: v for k, v in (("cpu", quantity("config-reloader-cpu-request")),
                                              ("memory", quantity("config-reloader-memory-request"))) if v}
                limits = {k: v for k, v in (("cpu", quantity("config-reloader-cpu-limit")),
                                            ("memory", quantity("config-reloader-memory-limit"))) if v}
                return {"image": args["prometheus-config-reloader"],
                        "resources": {"requests": requests, "limits": limits}}
    return {}


def workloads(objects: list[Rendered]) -> list[Workload]:
    """Every object that makes pods, with the pod spec the cluster would run. A Prometheus
    resource becomes the pod its operator makes (prometheus, config-reloader and its
    init container)."""
    found = []
    reloader = None
    for item in objects:
        spec = item.obj.get("spec") or {}
        if item.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            found.append(Workload(item, spec["template"]["spec"], int(spec.get("replicas", 1))))
        elif item.kind in ("DaemonSet", "Job"):
            found.append(Workload(item, spec["template"]["spec"], 1))
        elif item.kind == "Pod":
            found.append(Workload(item, spec, 1))
        elif item.kind == "CronJob":
            found.append(Workload(item, spec["jobTemplate"]["spec"]["template"]["spec"], 1))
        elif item.kind == "Prometheus":
            reloader = reloader if reloader is not None else _operator_reloader(objects)
            pod = {"nodeSelector": spec.get("nodeSelector", {}), "affinity": spec.get("affinity", {}),
                   "containers": [{"name": "prometheus", "image": spec["image"],
                                   "ports": [{"name": "web", "containerPort": 9090}],
                                   "resources": spec.get("resources", {})},
                                  {"name": "config-reloader", **reloader,
                                   "ports": [{"name": "reloader-web", "containerPort": 8080}]}],
                   "initContainers": [{"name": "init-config-reloader", **reloader}]}
            found.append(Workload(item, pod, int(spec.get("replicas", 1)) * int(spec.get("shards", 1))))
    return found


def images(objects: list[Rendered]) -> list[str]:
    """Every image the stack's pods pull, sorted, once each."""
    return sorted({c["image"] for w in workloads(objects) for c in [*w.init_containers, *w.containers]})
