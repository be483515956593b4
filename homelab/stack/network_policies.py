"""Who may talk to whom inside the cluster: every namespace of the stack denies all traffic
to and from its pods, and the policies below allow what each component needs, nothing more.
k3s enforces NetworkPolicies with its embedded kube-router controller (unless started with
--disable-network-policy, which this project never does).

    engines      <- router, Prometheus, the next engine's start check  -> DNS, the previous engine's port
                                                                           (its /health: a policy cannot name a path)
    router       <- LiteLLM, Prometheus                                 -> engines, the API server, DNS
    LiteLLM      <- the gateway (on the node), Open WebUI, Prometheus   -> router, DNS
    Open WebUI   <- the gateway (on the node)                           -> LiteLLM, DNS
    prefetch     (nothing in)                                           -> the internet (not the cluster, the
                                                                           nodes or any private range), DNS
    Prometheus   <- Grafana                                             -> every metrics port it scrapes, DNS
    Grafana, kube-state-metrics, the operator, the device plugin         -> the API server (and Grafana its
                                                                           dashboards' download), DNS

Pods on the node's own network (the gateway, the node exporters) are outside any policy;
kube-router lets a node's own processes reach its pods (kubelet probes, the gateway), and
the policies name the nodes' addresses as well so that the rule is written down."""

from __future__ import annotations

from typing import Any

from homelab.stack import device_plugin, gateway, litellm, monitoring, open_webui, vllm
from homelab.stack.common import MANAGED, PodPlan, StackContext

# k3s's default service network (this project leaves --service-cidr alone): the API server's
# Service address is in it, and the prefetch Jobs may not reach any of it.
SERVICE_CIDR = "10.43.0.0/16"
# Ranges no download needs: private, shared, link-local and loopback addresses.
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                  "127.0.0.0/8"]
METRICS_PORTS = {"vllm": vllm.ENGINE_PORT, "router": vllm.ENGINE_PORT, "litellm": litellm.PORT}

Rule = dict[str, Any]


def _tcp(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _pods(labels: dict[str, str] | None = None, namespace: str | None = None,
          expressions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    if expressions:
        selector["matchExpressions"] = expressions
    peer: dict[str, Any] = {"podSelector": selector}
    if namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return peer


def _policy(name: str, namespace: str, selects: dict[str, Any], ingress: list[Rule] | None = None,
            egress: list[Rule] | None = None) -> dict[str, Any]:
    """A policy for the pods `selects` picks; the lists given are all they may do (empty: nothing)."""
    spec: dict[str, Any] = {"podSelector": selects, "policyTypes": []}
    for kind, rules in (("Ingress", ingress), ("Egress", egress)):
        if rules is not None:
            spec["policyTypes"].append(kind)
            spec[kind.lower()] = rules
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED)}, "spec": spec}


def _deny_all(namespace: str) -> dict[str, Any]:
    return _policy("default-deny", namespace, {}, ingress=[], egress=[])


# The chart's own labels on its pods (rendered from the pinned charts; see tests).
ENGINES = {"app.kubernetes.io/instance": vllm.RELEASE, "app.kubernetes.io/component": "serving-engine"}
ROUTER = {"app.kubernetes.io/instance": vllm.RELEASE, "app.kubernetes.io/component": "router"}
LITELLM = {"app": litellm.NAME}
OPEN_WEBUI = {"app.kubernetes.io/instance": open_webui.NAME, "app.kubernetes.io/component": open_webui.NAME}
PREFETCH = [{"key": "homelab/model", "operator": "Exists"}]  # the model cache's prefetch Jobs
# kube-prometheus-stack 88.5.3: the operator labels its Prometheus pods as its Service selects them
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
GRAFANA = {"app.kubernetes.io/name": "grafana"}
KUBE_STATE_METRICS = {"app.kubernetes.io/name": "kube-state-metrics"}
OPERATOR = {"app": "kube-prometheus-stack-operator"}
DEVICE_PLUGIN = {"app.kubernetes.io/name": "nvidia-device-plugin"}


def dns() -> Rule:
    """The cluster's DNS (k3s's CoreDNS pods carry k8s-app: kube-dns)."""
    return {"to": [_pods({"k8s-app": "kube-dns"}, "kube-system")],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def nodes(ctx: StackContext, *ports: int) -> Rule:
    """The GPU nodes' own addresses (host-network pods and k3s itself live there)."""
    return {"to": [{"ipBlock": {"cidr": f"{cfg.lan_address}/32"}} for cfg in ctx.nodes.values()],
            "ports": _tcp(*ports)}


def api_server(ctx: StackContext) -> Rule:
    """Kubernetes' API: k3s on the server's address (after the Service's address is translated)."""
    return nodes(ctx, ctx.cfg.k3s_api_port)


def from_nodes(ctx: StackContext, *ports: int) -> Rule:
    return {"from": [{"ipBlock": {"cidr": f"{cfg.lan_address}/32"}} for cfg in ctx.nodes.values()],
            "ports": _tcp(*ports)}


def from_prometheus(ctx: StackContext, *ports: int | str) -> list[Rule]:
    if not ctx.cfg.monitoring_enabled:
        return []
    return [{"from": [_pods(PROMETHEUS, ctx.cfg.monitoring_namespace)], "ports": _tcp(*ports)}]


def internet(ctx: StackContext, *ports: int) -> Rule:
    """Public addresses only: not the cluster's networks, the nodes, the LAN or any private range."""
    nodes_ = [f"{cfg.lan_address}/32" for cfg in ctx.nodes.values()]
    return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                "except": [*PRIVATE_RANGES, ctx.cfg.k3s_cluster_cidr, SERVICE_CIDR, *nodes_]}}],
            "ports": _tcp(*ports)}


def stack_policies(ctx: StackContext) -> list[dict[str, Any]]:
    ns, port = ctx.namespace, vllm.ENGINE_PORT
    policies = [
        _deny_all(ns),
        _policy("vllm-engines", ns, {"matchLabels": ENGINES},
                ingress=[{"from": [_pods(ROUTER), _pods(ENGINES)], "ports": _tcp(port)},
                         *from_prometheus(ctx, port)],
                # the start chain: an engine's init container waits for the previous one's /health
                egress=[dns(), {"to": [_pods(ENGINES)], "ports": _tcp(port)}]),
        _policy("vllm-router", ns, {"matchLabels": ROUTER},
                ingress=[{"from": [_pods(LITELLM)], "ports": _tcp(port)}, *from_prometheus(ctx, port)],
                # it finds the engines' pods through the API server (pod-ip service discovery)
                egress=[dns(), {"to": [_pods(ENGINES)], "ports": _tcp(port)}, api_server(ctx)]),
        _policy("litellm", ns, {"matchLabels": LITELLM},
                ingress=[from_nodes(ctx, litellm.PORT), *from_prometheus(ctx, litellm.PORT),
                         *([{"from": [_pods(OPEN_WEBUI)], "ports": _tcp(litellm.PORT)}]
                           if ctx.cfg.open_webui_enabled else [])],
                egress=[dns(), {"to": [_pods(ROUTER)], "ports": _tcp(port)},
                        # the door asks the node's waker to load a model on demand
                        *([nodes(ctx, ctx.cfg.waker_port)] if any(m.on_demand for m in ctx.models) else [])]),
        _policy("model-prefetch", ns, {"matchExpressions": PREFETCH}, ingress=[],
                egress=[dns(), internet(ctx, 443)]),
    ]
    if ctx.cfg.open_webui_enabled:
        policies.append(_policy("open-webui", ns, {"matchLabels": OPEN_WEBUI},
                                ingress=[from_nodes(ctx, open_webui.CONTAINER_PORT)],
                                egress=[dns(), {"to": [_pods(LITELLM)], "ports": _tcp(litellm.PORT)}]))
    return policies


def monitoring_policies(ctx: StackContext) -> list[dict[str, Any]]:
    ns = ctx.cfg.monitoring_namespace
    scraped_on_nodes = [ctx.cfg.gateway_metrics_port, monitoring.NODE_EXPORTER_PORT, 10250, ctx.cfg.k3s_api_port]
    return [
        _deny_all(ns),
        _policy("prometheus", ns, {"matchLabels": PROMETHEUS},
                ingress=[{"from": [_pods(GRAFANA), _pods(PROMETHEUS)], "ports": _tcp(9090, 8080)},
                         # the gateway (on the node's network) passes the watcher's /federate on
                         *([from_nodes(ctx, 9090)] if gateway.watcher_door(ctx) else [])],
                egress=[dns(), nodes(ctx, *scraped_on_nodes),
                        {"to": [_pods(ENGINES, ctx.namespace), _pods(ROUTER, ctx.namespace)],
                         "ports": _tcp(vllm.ENGINE_PORT)},
                        {"to": [_pods(LITELLM, ctx.namespace)], "ports": _tcp(litellm.PORT)},
                        {"to": [_pods(namespace=ns)]},  # its own namespace's exporters
                        {"to": [_pods({"k8s-app": "kube-dns"}, "kube-system")], "ports": _tcp(9153)},
                        *([{"to": [{"ipBlock": {"cidr": f"{address.rsplit(':', 1)[0]}/32"}}
                                   for address in ctx.node_exporters],
                            "ports": _tcp(*sorted({int(a.rsplit(':', 1)[1]) for a in ctx.node_exporters}))}]
                          if ctx.node_exporters else [])]),
        _policy("grafana", ns, {"matchLabels": GRAFANA},
                ingress=[{"from": [_pods(PROMETHEUS)], "ports": _tcp(3000)}],
                # its sidecars watch dashboards' ConfigMaps; its init container downloads
                # Node Exporter Full from grafana.com
                egress=[dns(), api_server(ctx), {"to": [_pods(PROMETHEUS)], "ports": _tcp(9090)},
                        internet(ctx, 443)]),
        _policy("kube-state-metrics", ns, {"matchLabels": KUBE_STATE_METRICS},
                ingress=[{"from": [_pods(PROMETHEUS)], "ports": _tcp(8080, 8081)}],
                egress=[dns(), api_server(ctx)]),
        _policy("prometheus-operator", ns, {"matchLabels": OPERATOR},
                ingress=[{"from": [_pods(PROMETHEUS)], "ports": _tcp(8080)}],
                egress=[dns(), api_server(ctx)]),
    ]


def device_plugin_policies(ctx: StackContext) -> list[dict[str, Any]]:
    """The plugin talks to the kubelet through a socket; its config manager reads its node's
    labels (the time-slicing config) from the API server."""
    ns = device_plugin.NAMESPACE
    return [_deny_all(ns), _policy("nvidia-device-plugin", ns, {"matchLabels": DEVICE_PLUGIN},
                                   ingress=[], egress=[dns(), api_server(ctx)])]


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    policies = [*stack_policies(ctx), *device_plugin_policies(ctx)]
    if ctx.cfg.monitoring_enabled:
        policies += monitoring_policies(ctx)
    return policies


def pods(ctx: StackContext) -> list[PodPlan]:
    """NetworkPolicies run no pods."""
    return []
