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
from collections.abc import Mapping
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
            # a workload the chart starts at zero is a model on demand: the plans (and the
            # policies) are for it woken, every model loaded at once
            placed[matching[0]].extend([pod] * max(workload.replicas, 1))
    return placed


# -- NetworkPolicies ----------------------------------------------------------------------------
# Kubernetes' semantics (networking.k8s.io/v1): a pod is isolated for ingress (egress) when a
# policy of its namespace selects it with that policy type; isolated, it may receive (send)
# only what some rule of those policies allows. Both ends must allow. ipBlocks match
# addresses outside the pod network (nodes, the LAN, the internet); whether they match pod
# addresses is left to the implementation, and no policy here relies on it. k3s's kube-router
# adds one rule of its own: a node's own processes (host-network pods, the kubelet) may reach
# the pods on that node.

@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a pod (namespace and labels) or an address (a node, a LAN
    device, the internet); `node` is where a pod or a host-network process runs."""

    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    address: str | None = None
    node: str | None = None
    ports: tuple[tuple[str, int], ...] = ()  # named container ports

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None and self.address is None

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _selects(selector: dict, labels: Mapping[str, str | None]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        value, values = labels.get(expr["key"]), expr.get("values", [])
        holds = {"In": value in values, "NotIn": value not in values, "Exists": expr["key"] in labels,
                 "DoesNotExist": expr["key"] not in labels}[expr["operator"]]
        if not holds:
            return False
    return True


def _in_block(address: str, block: dict) -> bool:
    import ipaddress
    ip = ipaddress.ip_address(address)
    return ip in ipaddress.ip_network(block["cidr"]) and not any(
        ip in ipaddress.ip_network(cidr) for cidr in block.get("except", []))


def _peer_matches(peer: dict, policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        return other.address is not None and _in_block(other.address, peer["ipBlock"])
    if not other.is_pod:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace}):
            return False
    elif other.namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector") or {}, other.label_map())


def _port_matches(rule: dict, port: int, protocol: str, target: Endpoint) -> bool:
    if not rule.get("ports"):
        return True
    for item in rule["ports"]:
        if item.get("protocol", "TCP") != protocol:
            continue
        wanted = item.get("port")
        if wanted is None:
            return True
        number = dict(target.ports).get(wanted) if isinstance(wanted, str) else wanted
        if number is not None and number <= port <= item.get("endPort", number):
            return True
    return False


def _types(policy: dict) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def _side_allows(policies: list[dict], owner: Endpoint, other: Endpoint, port: int, protocol: str,
                 kind: str, target: Endpoint) -> bool:
    if not owner.is_pod:
        return True  # host-network pods and addresses: no policy applies
    selecting = [p for p in policies if p["metadata"]["namespace"] == owner.namespace
                 and kind in _types(p) and _selects(p["spec"].get("podSelector") or {}, owner.label_map())]
    if not selecting:
        return True
    key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)) \
                    and _port_matches(rule, port, protocol, target):
                return True
    return False


def reachable(policies: list[dict], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Whether `source` may open a connection to `target`'s `port` under `policies`."""
    egress = _side_allows(policies, source, target, port, protocol, "Egress", target)
    if target.is_pod and not source.is_pod and source.node is not None and source.node == target.node:
        return egress  # kube-router: the node's own processes reach its pods
    return egress and _side_allows(policies, target, source, port, protocol, "Ingress", target)


# -- Pod Security Admission ----------------------------------------------------------------------
# The Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards),
# as Kubernetes 1.34 enforces them: the checks that matter for pod specs; an init container
# counts like any other. Returns the violations of `level` ("baseline" or "restricted").

BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def pod_security_violations(pod: dict, level: str) -> list[str]:
    found = []
    containers = [*pod.get("initContainers", []), *pod.get("containers", [])]
    pod_context = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(flag)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(f"hostPath volume {volume['name']}")
        elif level == "restricted" and not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} of type {sorted(kinds)}")
    seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    for c in containers:
        context = c.get("securityContext") or {}
        name = c["name"]
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        added = set((context.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f"{name}: adds {sorted(added - BASELINE_CAPABILITIES)}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            found.append(f"{name}: hostPort")
        profile = (context.get("seccompProfile") or {}).get("type") or seccomp
        if profile == "Unconfined":
            found.append(f"{name}: seccomp Unconfined")
        if level != "restricted":
            continue
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation not false")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if non_root is not True or user == 0:
            found.append(f"{name}: may run as root")
        if profile not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: no seccomp profile")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []) or added - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities not dropped to NET_BIND_SERVICE at most")
    return found


def strictest_level(pods: list[dict]) -> str:
    for level in ("restricted", "baseline"):
        if not any(pod_security_violations(pod, level) for pod in pods):
            return level
    return "privileged"
