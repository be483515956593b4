"""The stack's Kubernetes Secrets, from the local secrets store. They are the only
manifest that holds secret values (shipped mode 0600 through file_in_place, never diffed); every other
manifest refers to them by name."""

from __future__ import annotations

from homelab.devices import active_tokens, token_env
from homelab.stack.common import MANAGED, StackContext, namespace

VLLM_API_KEY = ("vllm-api-key", "key")
LITELLM_MASTER_KEY = ("litellm-master-key", "key")
HF_TOKEN = ("hf-token", "token")
OPEN_WEBUI_SECRET = ("open-webui-secret", "key")
OPEN_WEBUI_ADMIN = ("open-webui-admin", "password")
GRAFANA_ADMIN = ("grafana-admin", "admin-user", "admin-password")
GATEWAY_TOKENS = "gateway-tokens"  # one key per device: its token's environment variable name


def _secret(name: str, ns: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED)}, "stringData": data}


def manifests(ctx: StackContext, store) -> list[dict]:
    """`store` is the secrets store; values are read here and nowhere else."""
    ns, mon = ctx.namespace, ctx.cfg.monitoring_namespace
    objects = [namespace(ns), namespace(mon),
               _secret(VLLM_API_KEY[0], ns, {VLLM_API_KEY[1]: store.get("vllm_api_key").reveal()}),
               _secret(LITELLM_MASTER_KEY[0], ns, {LITELLM_MASTER_KEY[1]: store.get("litellm_master_key").reveal()})]
    tokens = active_tokens(store, ctx.api_devices)
    objects.append(_secret(GATEWAY_TOKENS, ns, {token_env(device): token for device, token in sorted(tokens.items())}))
    if ctx.has_hf_token:
        objects.append(_secret(HF_TOKEN[0], ns, {HF_TOKEN[1]: store.get("hf_token").reveal()}))
    if ctx.cfg.open_webui_enabled:
        objects.append(_secret(OPEN_WEBUI_SECRET[0], ns, {OPEN_WEBUI_SECRET[1]: store.get("open_webui_secret_key").reveal()}))
        objects.append(_secret(OPEN_WEBUI_ADMIN[0], ns, {OPEN_WEBUI_ADMIN[1]: store.get("open_webui_admin_password").reveal()}))
    if ctx.cfg.monitoring_enabled:
        objects.append(_secret(GRAFANA_ADMIN[0], mon, {GRAFANA_ADMIN[1]: "admin",
                                                       GRAFANA_ADMIN[2]: store.get("grafana_admin_password").reveal()}))
    return objects
