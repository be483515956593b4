"""The stack's Kubernetes Secrets. Their values are read from the local secrets store
once per deploy (`resolve`, into common.ClusterSecrets on the StackContext) and written only
here: homelab-secrets.yaml is the one manifest holding secret values (shipped mode 0600
through file_in_place, never diffed); every other manifest refers to them by name."""

from __future__ import annotations

from typing import Any

from homelab.devices import active_tokens, token_env
from homelab.secrets_store import Secret, SecretsStore
from homelab.settings import GpuNode
from homelab.stack.common import MANAGED, ClusterSecrets, StackContext, namespace
from homelab.watcher import TOKEN_SECRET

VLLM_API_KEY = ("vllm-api-key", "key")
# LiteLLM's master key lives in LiteLLM's pod alone and opens nothing (custom auth decides);
# each caller has its own key instead: the gateway (Caddy), Open WebUI, Prometheus.
LITELLM_MASTER_KEY = ("litellm-master-key", "key")
LITELLM_GATEWAY_KEY = ("litellm-gateway-key", "key")
LITELLM_OPEN_WEBUI_KEY = ("litellm-open-webui-key", "key")
LITELLM_METRICS_KEY = ("litellm-metrics-key", "key")
HF_TOKEN = ("hf-token", "token")
OPEN_WEBUI_SECRET = ("open-webui-secret", "key")
OPEN_WEBUI_ADMIN = ("open-webui-admin", "password")
GRAFANA_ADMIN = ("grafana-admin", "admin-user", "admin-password")
# The Le Potato watcher's token for the gateway's /federate (homelab/watcher.py)
WATCHER_TOKEN = ("watcher-token", "token")
# The door's token for the node's waker (models on demand: homelab/waker.py)
WAKER_TOKEN = ("waker-token", "token")
WAKER_TOKEN_SECRET, WAKER_TOKEN_ENV = "waker_token", "HOMELAB_WAKER_TOKEN"
GATEWAY_TOKENS = "gateway-tokens"  # one key per device: its token's environment variable name


def _secret(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED)}, "stringData": data}


# Keys the stack makes on its first deploy (store name -> ClusterSecrets field); only the
# cluster holds them. The master key's store name changed once: the old one had been
# readable through the gateway (LiteLLM's metrics), so every cluster gets a new one.
GENERATED_KEYS = {"vllm_api_key": "vllm_api_key", "litellm_master_key.2": "litellm_master_key",
                  "litellm_gateway_key": "litellm_gateway_key", "litellm_open_webui_key": "litellm_open_webui_key",
                  "litellm_metrics_key": "litellm_metrics_key"}
# The key every cluster this store set up has had from its first deploy: a store without it
# is another machine's (or a lost one), and the Secrets it would write would lock clients out.
CLUSTER_SENTINEL = "vllm_api_key"


def resolve(store: SecretsStore, cfg: GpuNode, devices: list[str], watcher: bool = False) -> ClusterSecrets:
    """Read (or, for generated ones, make) every secret the stack as `cfg` configures it needs."""
    wanted = dict(GENERATED_KEYS)
    if cfg.open_webui_enabled:
        wanted.update(open_webui_secret_key="open_webui_secret_key",
                      open_webui_admin_password="open_webui_admin_password")
    if cfg.monitoring_enabled:
        wanted["grafana_admin_password"] = "grafana_admin_password"
        if watcher:  # the watcher reads the cluster's figures only when there is a Prometheus to read
            wanted[TOKEN_SECRET] = "watcher_token"
    if any(m.on_demand for m in cfg.models if m.enabled):
        wanted[WAKER_TOKEN_SECRET] = "waker_token"
    made_now = frozenset(name for name in wanted if not store.stored(name))
    values = {field_name: store.get_or_make(name) for name, field_name in wanted.items()}
    tokens = {device: Secret(token) for device, token in active_tokens(store, devices).items()}
    return ClusterSecrets(device_tokens=tokens, hf_token=store.find("hf_token"),
                          made_now=made_now, **values)


def _value(secret: Secret | None) -> str:
    if secret is None:
        raise ValueError("a secret the stack needs was not resolved (cluster_secrets.resolve)")
    return secret.reveal()


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    """Namespaces and Secrets, from the secrets resolved for this deploy."""
    secrets = ctx.secrets
    if secrets is None:
        raise ValueError("the stack context was built without secrets (ai_stack.stack_context resolves them)")
    ns, mon, door = ctx.namespace, ctx.cfg.monitoring_namespace, ctx.cfg.gateway_namespace
    # Pod Security levels: the strictest each namespace's pods meet (tests hold the render to
    # them). The stack's runs root containers (engines, prefetch, Open WebUI: see their
    # modules); the gateway and the node exporter use the node's network and disk.
    objects = [namespace(ns, "baseline"), namespace(mon, "privileged"), namespace(door, "privileged"),
               _secret(VLLM_API_KEY[0], ns, {VLLM_API_KEY[1]: _value(secrets.vllm_api_key)}),
               _secret(LITELLM_MASTER_KEY[0], ns, {LITELLM_MASTER_KEY[1]: _value(secrets.litellm_master_key)}),
               _secret(LITELLM_GATEWAY_KEY[0], ns, {LITELLM_GATEWAY_KEY[1]: _value(secrets.litellm_gateway_key)}),
               _secret(LITELLM_OPEN_WEBUI_KEY[0], ns,
                       {LITELLM_OPEN_WEBUI_KEY[1]: _value(secrets.litellm_open_webui_key)}),
               _secret(LITELLM_METRICS_KEY[0], ns, {LITELLM_METRICS_KEY[1]: _value(secrets.litellm_metrics_key)}),
               # the gateway's own: its tokens and its key to LiteLLM, in its namespace
               _secret(GATEWAY_TOKENS, door, {token_env(device): token.reveal()
                                              for device, token in sorted(secrets.device_tokens.items())}),
               _secret(LITELLM_GATEWAY_KEY[0], door, {LITELLM_GATEWAY_KEY[1]: _value(secrets.litellm_gateway_key)})]
    if secrets.hf_token is not None:
        objects.append(_secret(HF_TOKEN[0], ns, {HF_TOKEN[1]: _value(secrets.hf_token)}))
    if secrets.waker_token is not None:
        objects.append(_secret(WAKER_TOKEN[0], ns, {WAKER_TOKEN[1]: _value(secrets.waker_token)}))
    if ctx.cfg.open_webui_enabled:
        objects.append(_secret(OPEN_WEBUI_SECRET[0], ns, {OPEN_WEBUI_SECRET[1]: _value(secrets.open_webui_secret_key)}))
        objects.append(_secret(OPEN_WEBUI_ADMIN[0], ns,
                               {OPEN_WEBUI_ADMIN[1]: _value(secrets.open_webui_admin_password)}))
    if ctx.cfg.monitoring_enabled:
        # Prometheus reads the door's metrics (in LiteLLM's pod) with this key (a Secret of its own namespace)
        objects.append(_secret(LITELLM_METRICS_KEY[0], mon,
                               {LITELLM_METRICS_KEY[1]: _value(secrets.litellm_metrics_key)}))
        objects.append(_secret(GRAFANA_ADMIN[0], mon, {GRAFANA_ADMIN[1]: "admin",
                                                       GRAFANA_ADMIN[2]: _value(secrets.grafana_admin_password)}))
        if secrets.waker_token is not None:
            pass
        if secrets.watcher_token is not None:
            objects.append(_secret(WATCHER_TOKEN[0], door, {WATCHER_TOKEN[1]: _value(secrets.watcher_token)}))
    return objects
