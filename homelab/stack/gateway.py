"""The API gateway: Caddy in front of LiteLLM, on the node's network (hostNetwork) so it
sees each client's real address for the allowlist. A device's token (from the
gateway-tokens Secret) lets a request through, with the device's name attached for
LiteLLM's logs and metrics; everything else gets an OpenAI-style 401, 403 or 404."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from homelab.devices import token_env
from homelab.rendering import render
from homelab.stack import litellm, open_webui
from homelab.stack.common import MANAGED, StackContext, secret_ref
from homelab.stack.secrets import GATEWAY_TOKENS, LITELLM_MASTER_KEY

NAME = "gateway"
DATA_DIR = "/var/lib/homelab/caddy"  # Caddy's internal CA and certificates (hostPath)
ROOT_CERT = f"{DATA_DIR}/caddy/pki/authorities/local/root.crt"


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


def caddyfile(devices: list[str], allowlist: list[str], upstream: str, port: int, tls_names: list[str] | None,
              body_limit_mb: int, timeout_minutes: int, webui_upstream: str | None = None,
              webui_port: int | None = None) -> str:
    """The Caddyfile, for the cluster and for the tests alike."""
    return render("gateway", "Caddyfile.j2", site_address=_site_address(port, tls_names), tls=bool(tls_names),
                  devices=[GatewayDevice(name) for name in sorted(devices)], allowlist=allowlist, upstream=upstream,
                  body_limit_mb=body_limit_mb, timeout_minutes=timeout_minutes, webui_upstream=webui_upstream,
                  webui_site_address=_site_address(webui_port, tls_names) if webui_upstream else None)


def cluster_caddyfile(ctx: StackContext) -> str:
    cfg = ctx.cfg
    return caddyfile(ctx.api_devices, cfg.gateway_allowlist,
                     upstream=f"{litellm.NAME}.{ctx.namespace}.svc.cluster.local:{litellm.PORT}",
                     port=cfg.gateway_port, tls_names=[cfg.lan_address, ctx.node_name] if cfg.gateway_tls else None,
                     body_limit_mb=cfg.gateway_body_limit_mb, timeout_minutes=cfg.gateway_timeout_minutes,
                     webui_upstream=f"{open_webui.NAME}.{ctx.namespace}.svc.cluster.local:80" if cfg.open_webui_enabled
                     else None, webui_port=cfg.open_webui_port)


def manifests(ctx: StackContext) -> list[dict]:
    text = cluster_caddyfile(ctx)
    labels = {**MANAGED, "app": NAME}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{NAME}-caddyfile", "namespace": ctx.namespace, "labels": labels},
                  "data": {"Caddyfile": text}}
    env = [{"name": GatewayDevice(d).env, **secret_ref(GATEWAY_TOKENS, GatewayDevice(d).env)}
           for d in sorted(ctx.api_devices)]
    env.append({"name": "LITELLM_MASTER_KEY", **secret_ref(*LITELLM_MASTER_KEY)})
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": labels},
        # one pod holding the node's port: the old one must go before the new one binds it
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"app": NAME}},
                 "template": {
                     "metadata": {"labels": {"app": NAME}, "annotations": {
                         # a changed Caddyfile or a rotated token restarts the pod (env is read at start)
                         "homelab/caddyfile-sha256": hashlib.sha256(text.encode()).hexdigest(),
                         "homelab/tokens-sha256": ctx.tokens_digest}},
                     "spec": {
                         # the client's real address reaches Caddy only on the node's own network
                         "hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet",
                         "containers": [{
                             "name": "caddy", "image": ctx.cfg.caddy_image, "imagePullPolicy": "IfNotPresent",
                             "args": ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
                             "env": env,
                             "ports": [{"name": "api", "containerPort": ctx.cfg.gateway_port,
                                        "hostPort": ctx.cfg.gateway_port},
                                       *([{"name": "webui", "containerPort": ctx.cfg.open_webui_port,
                                           "hostPort": ctx.cfg.open_webui_port}] if ctx.cfg.open_webui_enabled else [])],
                             "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                             "volumeMounts": [{"name": "caddyfile", "mountPath": "/etc/caddy", "readOnly": True},
                                              {"name": "data", "mountPath": "/data"}]}],
                         "volumes": [{"name": "caddyfile", "configMap": {"name": f"{NAME}-caddyfile"}},
                                     {"name": "data", "hostPath": {"path": DATA_DIR, "type": "DirectoryOrCreate"}}]}}},
    }
    return [config_map, deployment]
