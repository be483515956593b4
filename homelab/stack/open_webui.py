"""Open WebUI, talking to LiteLLM inside the cluster with the master key (by Secret)."""

from __future__ import annotations

from homelab.stack import litellm
from homelab.stack.common import StackContext, helm_chart, secret_ref
from homelab.stack.secrets import LITELLM_MASTER_KEY, OPEN_WEBUI_SECRET

NAME = "open-webui"


def values(ctx: StackContext) -> dict:
    return {
        "ollama": {"enabled": False},
        "pipelines": {"enabled": False},
        "websocket": {"enabled": False},
        "enableOpenaiApi": True,
        "openaiBaseApiUrl": ctx.service_url(litellm.NAME, litellm.PORT, "/v1"),
        "openaiApiKeyExistingSecret": LITELLM_MASTER_KEY[0],
        "openaiApiKeyExistingSecretKey": LITELLM_MASTER_KEY[1],
        "extraEnvVars": [{"name": "WEBUI_SECRET_KEY", **secret_ref(*OPEN_WEBUI_SECRET)}],
        "persistence": {"enabled": True, "size": "2Gi"},
        "service": {"type": "ClusterIP"},
    }


def manifests(ctx: StackContext) -> list[dict]:
    return [helm_chart(NAME, chart="open-webui", repo="https://helm.openwebui.com",
                       version=ctx.cfg.open_webui_chart_version, namespace=ctx.namespace, values=values(ctx))]
