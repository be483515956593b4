"""LiteLLM's own checks, shipped by homelab (pyinfra) next to LiteLLM's config.yaml, behind
the door (homelab_door.py, in the same pod), which every request passes first.

LiteLLM is reached by two callers, each with its own credential (a Secret in the pod's
environment): the gateway (Caddy), which has already checked a device's token and names
the device in X-Homelab-Device; and Open WebUI, a tenant of its own. (Prometheus reads the
door's metrics; LiteLLM keeps none.) The master key is held by LiteLLM alone and opens
nothing here.

- `authenticate` (general_settings.custom_auth) knows the caller by its credential and
  names the tenant (LiteLLM's key alias and user); it allows the caller its
  routes only (the OpenAI API as homelab_api.py spells it), the request
  headers callers send and no query string. The door checked the same before; this is
  the second lock, not the first (LiteLLM acts on a body before its auth can refuse it).
- `guard` (a callback) holds each request body to homelab_api.py's positive model once
  more before LiteLLM routes it, and keeps Python internals out of a stream that breaks.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

import homelab_api

if TYPE_CHECKING:
    from litellm.caching.dual_cache import DualCache
    from litellm.types.utils import CallTypesLiteral, ModelResponseStream

# door.json (beside this file): who may call, by name, and through which credential.
TENANTS: dict[str, dict[str, Any]] = json.loads(Path(__file__).with_name("door.json").read_text())["tenants"]
# credential name -> the environment variable holding it (from a Secret)
CREDENTIALS = {"gateway": "HOMELAB_GATEWAY_KEY", "open-webui": "HOMELAB_OPEN_WEBUI_KEY"}
DEVICE_HEADER = "x-homelab-device"
# Request headers LiteLLM may see (lower case): what the gateway, Open WebUI's HTTP client
# and the kubelet send. LiteLLM reads others (x-litellm-timeout, -num-retries,
# -tags, openai-organization, cache-control, ...) and acts on them.
HEADERS = {"host", "content-type", "content-length", "authorization", "accept", "accept-encoding", "user-agent",
           "connection", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", DEVICE_HEADER}


def _refuse(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> ProxyException:
    return ProxyException(message=message, type=kind, param=param, code=status)


def _credential(request: Request) -> str | None:
    """Which credential the caller presented: exactly one 'Authorization: Bearer <key>'."""
    values = request.headers.getlist("authorization")
    if len(values) != 1 or not values[0].startswith("Bearer "):
        return None
    presented = values[0].removeprefix("Bearer ").encode()
    for name, variable in CREDENTIALS.items():
        expected = os.environ.get(variable, "")
        if expected and hmac.compare_digest(presented, expected.encode()):
            return name
    return None


def _tenant(credential: str, request: Request) -> str | None:
    if credential == "gateway":
        named = request.headers.getlist(DEVICE_HEADER)
        device = named[0] if len(named) == 1 else None
        return device if device in TENANTS and TENANTS[device]["credential"] == "gateway" else None
    if request.headers.get(DEVICE_HEADER) is not None:
        return None  # only the gateway names devices
    return next((name for name, tenant in TENANTS.items() if tenant["credential"] == credential), None)


async def authenticate(request: Request, api_key: str) -> UserAPIKeyAuth:
    """general_settings.custom_auth: the caller, its route and its headers, or a refusal."""
    credential = _credential(request)
    if credential is None:
        raise _refuse(401, "Missing or invalid API key.", "auth_error")
    raw_path = request.scope.get("raw_path", b"").decode("latin-1")
    if request.url.query or raw_path != request.url.path:
        raise _refuse(404, "Unknown path: this service answers the OpenAI API under /v1, without query strings.")
    unknown = sorted({name.lower() for name in request.headers.keys()} - HEADERS)
    if unknown:
        raise _refuse(400, f"Request header {unknown[0]!r} is not accepted here.", param=unknown[0])
    if not homelab_api.is_api_route(request.method, raw_path):
        raise _refuse(404, "Unknown path: this service answers the OpenAI API under /v1.")
    tenant = _tenant(credential, request)
    if tenant is None:
        raise _refuse(401, "This credential does not name a known tenant.", "auth_error")
    # api_key ends up in LiteLLM's logs: the tenant's name, never a secret
    return UserAPIKeyAuth(api_key=f"homelab-{tenant}", key_alias=tenant, user_id=tenant)


# LiteLLM's call types for the endpoints homelab_api.py knows; any other is refused.
ROUTES = {"acompletion": "/v1/chat/completions", "completion": "/v1/chat/completions",
          "atext_completion": "/v1/completions", "text_completion": "/v1/completions",
          "aembedding": "/v1/embeddings", "embeddings": "/v1/embeddings"}


class HomelabGuard(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict: UserAPIKeyAuth, cache: DualCache, data: dict[str, Any],
                                  call_type: CallTypesLiteral) -> dict[str, Any]:
        route = ROUTES.get(call_type)
        # the body as the client sent it (LiteLLM adds keys of its own to `data`)
        body = (data.get("proxy_server_request") or {}).get("body", data)
        try:
            if route is None or user_api_key_dict.request_route not in (route, None):
                raise homelab_api.Refused("", f"{user_api_key_dict.request_route} is not served here.", "not_found")
            homelab_api.check_body(route, body)
        except homelab_api.Refused as refused:
            error = HTTPException(status_code=400, detail=refused.message)
            # LiteLLM's proxy reads the error's type and param with getattr (fastapi's class has neither)
            error.type, error.param = "invalid_request_error", refused.param or None  # type: ignore[attr-defined]
            raise error from None
        if route == "/v1/embeddings" and "messages" in body:
            # vLLM's chat-style embedding (an image for CLIP): LiteLLM's router needs an `input`,
            # and vLLM reads the messages only when that input is null (with any other value
            # its request union takes the text form and embeds the text instead)
            data["input"] = None
        return data

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict: UserAPIKeyAuth, response: Any,
                                                      request_data: dict[str, Any],
                                                      ) -> AsyncGenerator[ModelResponseStream, None]:
        # A stream that breaks: LiteLLM would send the exception's text, and a traceback
        # when it has no message, as the last chunk. (Answers that are not streamed: the
        # gateway replaces a server error's body.)
        try:
            async for item in response:
                yield item
        except Exception as error:
            raise StreamBroken(type(error).__name__) from None


class StreamBroken(Exception):
    """What the client hears when the model server's stream breaks: no internals."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.message = f"The model server stopped answering in the middle of the reply ({cause}). Try again."
        self.type, self.param, self.status_code = "server_error", None, 502


guard = HomelabGuard()
