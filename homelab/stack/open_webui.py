"""Open WebUI, talking to LiteLLM inside the cluster with a key of its own (by Secret):
to LiteLLM it is one tenant, like a device.

The owner's admin account is made from the secrets store when Open WebUI first starts
(otherwise the first person to sign up becomes admin), and signup is off. Document
search embeds with the catalogue's own embedding model through LiteLLM, and Open WebUI
runs offline: it downloads no models of its own."""

from __future__ import annotations

from typing import Any

from homelab.settings import CatalogueModel
from homelab.stack import litellm, security
from homelab.stack.cluster_secrets import LITELLM_OPEN_WEBUI_KEY, OPEN_WEBUI_ADMIN, OPEN_WEBUI_SECRET
from homelab.stack.common import PodPlan, Resources, StackContext, helm_chart, secret_ref

NAME = "open-webui"
PORT = 80  # the chart's service.port (open-webui 16.0.0 values.yaml)
CONTAINER_PORT = 8080  # what its pod listens on (the chart's containerPort)
OPEN_WEBUI = Resources(cpu=0.25, cpu_limit=2, memory_mib=1024)
COPY_APP_DATA = Resources(cpu=0.05, cpu_limit=0.5, memory_mib=128)


def text_embedding_model(ctx: StackContext) -> CatalogueModel | None:
    return next((m for m in ctx.models if m.kind == "embedding" and m.inputs == ["text"]), None)


def litellm_url(ctx: StackContext) -> str:
    return ctx.service_url(litellm.NAME, litellm.PORT, "/v1")


def values(ctx: StackContext) -> dict[str, Any]:
    env = [{"name": "WEBUI_SECRET_KEY", **secret_ref(*OPEN_WEBUI_SECRET)},
           {"name": "WEBUI_ADMIN_EMAIL", "value": ctx.cfg.open_webui_admin_email},
           {"name": "WEBUI_ADMIN_NAME", "value": "Owner"},
           {"name": "WEBUI_ADMIN_PASSWORD", **secret_ref(*OPEN_WEBUI_ADMIN)},
           {"name": "ENABLE_SIGNUP", "value": "false"},
           {"name": "OFFLINE_MODE", "value": "true"},
           # the settings below are the deploy's: Open WebUI would otherwise keep the values of
           # its first start in its database and ignore these ever after (config.py)
           {"name": "ENABLE_PERSISTENT_CONFIG", "value": "false"},
           # no pip installs of tools' requirements at run time (it would write the image)
           {"name": "ENABLE_PIP_INSTALL_FRONTMATTER_REQUIREMENTS", "value": "false"}]
    embedding = text_embedding_model(ctx)
    if embedding is not None:
        # Open WebUI 0.11.0 defaults RAG_OPENAI_API_BASE_URL to api.openai.com and its key
        # to empty (config.py): document search embeds through LiteLLM, with Open WebUI's key
        env += [{"name": "RAG_EMBEDDING_ENGINE", "value": "openai"},
                {"name": "RAG_EMBEDDING_MODEL", "value": embedding.name},
                {"name": "RAG_OPENAI_API_BASE_URL", "value": litellm_url(ctx)},
                {"name": "RAG_OPENAI_API_KEY", **secret_ref(*LITELLM_OPEN_WEBUI_KEY)},
                # default 1 chunk per request, all at once: a document would be a burst
                {"name": "RAG_EMBEDDING_BATCH_SIZE", "value": "32"},
                {"name": "RAG_EMBEDDING_CONCURRENT_REQUESTS", "value": "2"}]
    return {
        "ollama": {"enabled": False},
        "pipelines": {"enabled": False},
        "websocket": {"enabled": False},
        "enableOpenaiApi": True,
        "openaiBaseApiUrl": litellm_url(ctx),
        "openaiApiKeyExistingSecret": LITELLM_OPEN_WEBUI_KEY[0],
        "openaiApiKeyExistingSecretKey": LITELLM_OPEN_WEBUI_KEY[1],
        "extraEnvVars": env,
        "persistence": {"enabled": True, "size": "2Gi"},
        "service": {"type": "ClusterIP"},
        "resources": OPEN_WEBUI.spec(),
        "copyAppData": {"resources": COPY_APP_DATA.spec()},
        # root, with every capability dropped: Open WebUI's image runs as root (its Dockerfile's
        # UID=0; upstream calls other users untested), and its data volume holds root's files.
        # The root file system stays writable: at start it copies its front end into its own
        # package directory, which is not proven here to be harmless when refused.
        "podSecurityContext": security.pod_security(non_root=False),
        "containerSecurityContext": security.container_security(read_only=False, non_root=False),
        "volumes": [security.scratch_volume()],
        "volumeMounts": {"container": [{"name": "scratch", "mountPath": "/tmp"}], "initContainer": []},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 15},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 30,
                          "failureThreshold": 4},
        "nodeSelector": ctx.on_node(),
    }


def manifests(ctx: StackContext) -> list[dict[str, Any]]:
    return [helm_chart(NAME, chart="open-webui", repo="https://helm.openwebui.com",
                       version=ctx.cfg.open_webui_chart_version, namespace=ctx.namespace, values=values(ctx))]


def pods(ctx: StackContext) -> list[PodPlan]:
    return [PodPlan(NAME, ctx.namespace, {NAME: OPEN_WEBUI}, {"copy-app-data": COPY_APP_DATA}, node=ctx.node_name)]
