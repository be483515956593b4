"""What Kubernetes would make of rendered objects, modelled independently of the planner
(homelab/capacity.py) so the tests can hold one against the other:

- resource quantities parsed as the API server parses them;
- a container's requests and limits after defaulting (requests default to limits) and
  the LimitRanger admission plugin (a namespace's LimitRange fills what is missing);
- a pod's effective request (the larger of its containers' sum and any init container);
- which nodes a DaemonSet or a pinned pod lands on (nodeSelector, required node affinity).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from homelab.stack.helm_render import Rendered, Workload, workloads

_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def quantity(value) -> float:
    """A Kubernetes quantity ("250m", "1536Mi", 2) as a number (cores or bytes)."""
    match = re.fullmatch(r"([0-9.]+(?:e[0-9]+)?)([a-zA-Z]*)", str(value))
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


@dataclass(frozen=True)
class ContainerResources:
    name: str
    requests: dict[str, float]
    limits: dict[str, float]


def admitted(container: dict, limit_range: dict | None) -> ContainerResources:
    resources = container.get("resources") or {}
    limits = {k: quantity(v) for k, v in (resources.get("limits") or {}).items()}
    requests = {k: quantity(v) for k, v in (resources.get("requests") or {}).items()}
    for key, value in limits.items():  # API defaulting: an unset request is the limit
        requests.setdefault(key, value)
    if limit_range:
        for key, value in (limit_range.get("default") or {}).items():
            limits.setdefault(key, quantity(value))
        for key, value in (limit_range.get("defaultRequest") or {}).items():
            requests.setdefault(key, quantity(value))
    return ContainerResources(container["name"], requests, limits)


def limit_ranges(objects: list[Rendered]) -> dict[str, dict]:
    """namespace -> the Container limits of its LimitRange."""
    ranges = {}
    for item in objects:
        if item.kind == "LimitRange":
            for limit in item.obj["spec"]["limits"]:
                if limit["type"] == "Container":
                    ranges[item.obj["metadata"]["namespace"]] = limit
    return ranges


@dataclass(frozen=True)
class Pod:
    workload: Workload
    containers: list[ContainerResources]
    init_containers: list[ContainerResources]

    def request(self, resource: str) -> float:
        total = sum(c.requests.get(resource, 0) for c in self.containers)
        return max([total, *(c.requests.get(resource, 0) for c in self.init_containers)])


def _matches(pod: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (pod.get("nodeSelector") or {}).items()):
        return False
    required = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
    if not required:
        return True

    def expression_holds(expr):
        value, op = labels.get(expr["key"]), expr["operator"]
        return {"In": value in expr.get("values", []), "NotIn": value not in expr.get("values", []),
                "Exists": value is not None, "DoesNotExist": value is None}[op]

    return any(all(expression_holds(e) for e in term.get("matchExpressions", [])) for term in required)


def pods_on(objects: list[Rendered], nodes: dict[str, dict[str, str]]) -> dict[str, list[Pod]]:
    """node name -> the pods the cluster would run there (DaemonSets once per matching
    node; other workloads' replicas on the node their selector names, or the first)."""
    ranges = limit_ranges(objects)
    placed: dict[str, list[Pod]] = {name: [] for name in nodes}
    for workload in workloads(objects):
        pod = Pod(workload, [admitted(c, ranges.get(workload.namespace)) for c in workload.containers],
                  [admitted(c, ranges.get(workload.namespace)) for c in workload.init_containers])
        matching = [name for name, labels in nodes.items() if _matches(workload.pod, labels)]
        if workload.item.kind == "DaemonSet":
            for name in matching:
                placed[name].append(pod)
        elif matching:
            placed[matching[0]].extend([pod] * workload.replicas)
    return placed
