"""LiteLLM callback shipped by homelab (pyinfra) next to LiteLLM's config.yaml.

Clients reach LiteLLM only through the gateway, which swaps their device token for the
master key. LiteLLM would then honour endpoints and credentials named in the request
body (`api_base` with any `api_key`, `user_config`, `model_list`, provider credentials)
and send the request, with the reply, wherever the body says: into the cluster's own
services. This guard refuses every such key before routing, with an OpenAI-style 400,
and keeps Python internals out of a stream that breaks (LiteLLM would send the error's
text, with a traceback when it has no message, as the last chunk).
"""

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

# Keys that choose where a request goes or what it authenticates with.
REFUSED = {"api_base", "base_url", "api_key", "api_version", "user_config", "model_list", "custom_llm_provider",
           "organization", "deployment_id", "extra_headers", "headers", "mock_response", "region_name"}
REFUSED_PREFIXES = ("aws_", "vertex_", "azure_", "watsonx_", "litellm_")


def refused_keys(body: dict) -> list[str]:
    return sorted(key for key in body if key in REFUSED or key.startswith(REFUSED_PREFIXES))


class HomelabGuard(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        # the body as the client sent it (LiteLLM adds keys of its own to `data`)
        body = (data.get("proxy_server_request") or {}).get("body") or data
        found = refused_keys(body)
        if found:
            error = HTTPException(status_code=400, detail=(
                f"Request bodies may not name endpoints or credentials ({', '.join(found)}): "
                "the gateway chooses them."))
            error.type, error.param = "invalid_request_error", found[0]
            raise error
        return data

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
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
