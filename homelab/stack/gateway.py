"""The API gateway: Caddy in front of LiteLLM, on the k3s server's network (hostNetwork)
so it sees each client's real address for the allowlist, pinned to the server because
that is the address every client is given. A request gets through only as the OpenAI API
spells it (templates/gateway/Caddyfile.j2): a device's token (from the gateway-tokens
Secret) lets it through to LiteLLM with the gateway's own key and the device's name, and
nothing else of the client's headers; everything else gets an OpenAI-style 4xx. Caddy's
own metrics are served on an internal listener that only pods and the GPU nodes may read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from homelab import gpu_mode, watcher
from homelab.devices import token_env
from homelab.rendering import render
from homelab.stack import litellm, monitoring, open_webui, security
from homelab.stack.cluster_secrets import GATEWAY_TOKENS, LITELLM_GATEWAY_KEY, WATCHER_TOKEN
from homelab.stack.common import MANAGED, PodPlan, Resources, StackContext, secret_ref

NAME = "gateway"
DATA_DIR = "/var/lib/homelab/caddy"  # Caddy's internal CA and certificates (hostPath, the deploy makes it)
ROOT_CERT = f"{DATA_DIR}/caddy/pki/authorities/local/root.crt"
CADDY = Resources(cpu=0.1, cpu_limit=1, memory_mib=256)
# Where Caddy sends what passes the gate (environment variables the Caddyfile reads).
UPSTREAM_ENV = "LITELLM_UPSTREAM"
GATEWAY_KEY_ENV = "LITELLM_GATEWAY_KEY"  # how LiteLLM knows the gateway (homelab_guard.py)
WEBUI_UPSTREAM_ENV = "OPEN_WEBUI_UPSTREAM"
# The cluster's Prometheus, for the watcher's /federate (kube-prometheus-stack 88.5.3's
# Service "<release>-prometheus", port 9090)
PROMETHEUS_UPSTREAM_ENV = "PROMETHEUS_UPSTREAM"
# The node's game-mode state directory, read-only in the pod (its "paused" file means 503).
GPU_MODE_ENV, GPU_MODE_MOUNT = "GPU_MODE_DIR", "/gpu-mode"


@dataclass(frozen=True)
class GatewayDevice:
    name: str

    @property
    def env(self) -> str:
        return token_env(self.name)

    @property
    def matcher(self) -> str:
        return "device_" + self.env.removeprefix("HOMELAB_TOKEN_").lower()


def _site_address(port: int, tls_names: list[str] | None) -> str:
    if tls_names:
        return ", ".join(f"https://{name}:{port}" for name in tls_names)
    return f"http://:{port}"


def metrics_allowlist(ctx: StackContext) -> list[str]:
    """Who may read Caddy's metrics: pods (Prometheus), and the GPU nodes themselves
    (a pod reaching the node's address from another node arrives as that node)."""
    return [ctx.cfg.k3s_cluster_cidr, "127.0.0.1/32", *(f"{cfg.lan_address}/32" for cfg in ctx.nodes.values())]


def watcher_door(ctx: StackContext) -> dict[str, Any] | None:
    """The Le Potato watcher's way to the cluster's figures, or None (no watcher, or no
    monitoring to read): its addresses, its token's variable, the fixed query."""
    if not ctx.watchers or not ctx.cfg.monitoring_enabled:
        return None
    return {"addresses": [f"{address}/32" for address in ctx.watchers], "token_env": watcher.TOKEN_ENV,
            "query": watcher.federation_query(ctx.cfg), "upstream_env": PROMETHEUS_UPSTREAM_ENV}


def caddyfile(ctx: StackContext) -> str:
    cfg = ctx.cfg
    tls_names = [cfg.lan_address, ctx.node_name] if cfg.gateway_tls else None
    return render("gateway", "Caddyfile.j2", site_address=_site_address(cfg.gateway_port, tls_names),
                  tls=bool(tls_names), devices=[GatewayDevice(name) for name in sorted(ctx.api_devices)],
                  model_names=[m.name for m in ctx.models],
                  allowlist=cfg.gateway_allowlist, body_limit_mb=cfg.gateway_body_limit_mb,
                  timeout_minutes=cfg.gateway_timeout_minutes,
                  webui_site_address=_site_address(cfg.open_webui_port, tls_names) if cfg.open_webui_enabled else None,
                  metrics_port=cfg.gateway_metrics_port, metrics_allowlist=metrics_allowlist(ctx),
                  watcher=watcher_door(ctx))


def upstreams(ctx: StackContext) -> dict[str, str]:
    """The upstreams' in-cluster addresses, by the environment variable Caddy reads."""
    found = {UPSTREAM_ENV: ctx.service_address(litellm.NAME, litellm.PORT)}
    if ctx.cfg.open_webui_enabled:
        found[WEBUI_UPSTREAM_ENV] = ctx.service_address(open_webui.NAME, open_webui.PORT)
    if watcher_door(ctx):
        found[PROMETHEUS_UPSTREAM_ENV] = (f"{monitoring.RELEASE}-prometheus.{ctx.cfg.monitoring_namespace}"
                                          f".svc.cluster.local:9090")
    return found


# What checkov flags on the gateway and why it stays (annotations on the Deployment).
ACCEPTED = security.checkov_skips(
    security.PINNED_BY_TAG, security.PULL_IF_NOT_PRESENT,
    ("CKV_K8S_19", "hostNetwork: the allowlist needs each client's own address, which only the node's network shows"),
    ("CKV_K8S_26", "hostPort: the gateway is the node's port 8080, the one address every client is given"),
    ("CKV_K8S_25", "NET_BIND_SERVICE stays in the bounding set: the image's caddy binary carries it as a file "
                   "capability and exec fails without it (caddyserver/caddy-docker #396, #466); the process "
                   "itself runs without capabilities (non-root, no privilege escalation)"),
    ("CKV_K8S_37", "the one capability added is NET_BIND_SERVICE, for the reason above"),
    ("CKV_K8S_35", "Caddy reads the tokens from its environment ({$VAR}, expanded when it loads the Caddyfile)"),
)


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    text = caddyfile(ctx)
    labels = {**MANAGED, "app": NAME}
    ns = ctx.cfg.gateway_namespace
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{NAME}-caddyfile", "namespace": ns, "labels": labels},
                  "data": {"Caddyfile": text}}
    env = [{"name": GatewayDevice(d).env, **secret_ref(GATEWAY_TOKENS, GatewayDevice(d).env)}
           for d in sorted(ctx.api_devices)]
    env.append({"name": GATEWAY_KEY_ENV, **secret_ref(*LITELLM_GATEWAY_KEY)})
    if watcher_door(ctx):
        env.append({"name": watcher.TOKEN_ENV, **secret_ref(*WATCHER_TOKEN)})
    env += [{"name": name, "value": address} for name, address in upstreams(ctx).items()]
    env.append({"name": GPU_MODE_ENV, "value": GPU_MODE_MOUNT})
    ports = [{"name": "api", "containerPort": ctx.cfg.gateway_port, "hostPort": ctx.cfg.gateway_port},
             {"name": "metrics", "containerPort": ctx.cfg.gateway_metrics_port}]
    if ctx.cfg.open_webui_enabled:
        ports.append({"name": "webui", "containerPort": ctx.cfg.open_webui_port, "hostPort": ctx.cfg.open_webui_port})
    probe = {"tcpSocket": {"port": ctx.cfg.gateway_port}, "periodSeconds": 15}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ns, "labels": labels, "annotations": ACCEPTED},
        # one pod holding the node's port: the old one must go before the new one binds it
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"app": NAME}},
                 "template": {
                     "metadata": {"labels": {"app": NAME}, "annotations": {
                         # a changed Caddyfile or a rotated token restarts the pod (env is read at start)
                         "homelab/caddyfile-sha256": hashlib.sha256(text.encode()).hexdigest(),
                         "homelab/tokens-sha256": ctx.tokens_digest}},
                     "spec": {
                         # the client's real address reaches Caddy only on the node's own network,
                         # and clients are given the server's address
                         "hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet",
                         "nodeSelector": ctx.on_node(),
                         "automountServiceAccountToken": False,
                         "securityContext": security.pod_security(),
                         "containers": [{
                             "name": "caddy", "image": ctx.cfg.caddy_image, "imagePullPolicy": "IfNotPresent",
                             "args": ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
                             "env": env, "ports": ports, "resources": CADDY.spec(),
                             "securityContext": security.container_security(add=("NET_BIND_SERVICE",)),
                             "readinessProbe": probe, "livenessProbe": {**probe, "failureThreshold": 4},
                             # the image's XDG_DATA_HOME (/data: its CA, on the node, owned by the pod's
                             # user) and XDG_CONFIG_HOME (/config: scratch)
                             "volumeMounts": [{"name": "caddyfile", "mountPath": "/etc/caddy", "readOnly": True},
                                              {"name": "data", "mountPath": "/data"},
                                              {"name": "scratch", "mountPath": "/config"},
                                              {"name": "gpu-mode", "mountPath": GPU_MODE_MOUNT, "readOnly": True}]}],
                         "volumes": [{"name": "caddyfile", "configMap": {"name": f"{NAME}-caddyfile"}},
                                     {"name": "data", "hostPath": {"path": DATA_DIR, "type": "Directory"}},
                                     security.scratch_volume(),
                                     {"name": "gpu-mode", "hostPath": {"path": gpu_mode.STATE_DIR,
                                                                       "type": "DirectoryOrCreate"}}]}}},
    }
    return [config_map, deployment]


def pods(ctx: StackContext) -> list[PodPlan]:
    return [PodPlan(NAME, ctx.cfg.gateway_namespace, {"caddy": CADDY}, node=ctx.node_name)]
