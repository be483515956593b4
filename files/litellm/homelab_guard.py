"""LiteLLM callback shipped by homelab (pyinfra) next to LiteLLM's config.yaml.

Clients reach LiteLLM only through the gateway, which swaps their device token for the
master key. LiteLLM would then honour endpoints and credentials named in the request
body (`api_base` with any `api_key`, `user_config`, `model_list`, provider credentials)
and send the request, with the reply, wherever the body says: into the cluster's own
services. This guard refuses every such key before routing, with an OpenAI-style 400,
and keeps Python tracebacks out of error replies (LiteLLM puts one into a streamed error
whose exception has no message).
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
                f"Request bodies may not name endpoints or credentials ({', '.join(found)}): the gateway chooses them."))
            error.type, error.param = "invalid_request_error", found[0]
            raise error
        return data

    async def async_post_call_failure_hook(self, request_data, original_exception, user_api_key_dict,
                                           traceback_str=None):
        if not getattr(original_exception, "message", None):
            try:
                original_exception.message = f"The model server could not answer ({type(original_exception).__name__})."
            except AttributeError:
                pass


guard = HomelabGuard()
