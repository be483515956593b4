"""The OpenAI API this lab serves, as a positive model: per endpoint, the request body keys
it accepts, each with its type and bounds. Anything else is refused, by name.

Shipped by homelab (pyinfra) next to LiteLLM's config.yaml and read by the homelab guard
(homelab_guard.py) before LiteLLM routes a request. Plain Python, no imports beyond the
standard library: the same file runs in LiteLLM's pod and in the project's tests.

Where the keys come from: OpenAI's own request types (the `openai` Python SDK 3.57,
openai/types/chat/completion_create_params.py, completion_create_params.py,
embedding_create_params.py), narrowed to what vLLM 0.11.1 serves and a home lab needs,
plus a few vLLM sampling extras (VLLM_EXTRAS below, with the reason). Left out on purpose:
whatever names an endpoint, a credential, a retry, a timeout, a fallback, a callback, a
log sink or a mock answer (LiteLLM would act on them), whatever OpenAI stores or bills
(store, metadata, service_tier, prompt caches), and media by URL: images, audio and files
travel as data: URLs or base64 only, so nothing behind the door ever fetches a URL a
client chose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

API_PATHS = ("/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings")
MODEL_PATH = re.compile(r"/v1/models/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

# Bounds. The gateway caps a body's size (gateway_body_limit_mb); these keep each value
# sane on its own, also for Open WebUI, which reaches LiteLLM without the gateway.
MAX_TEXT = 8 * 1024 * 1024  # characters in one string (a long prompt, a data: URL)
MAX_ITEMS = 2048  # messages, content parts, prompts, embedding inputs
MAX_JSON_DEPTH = 32  # a tool's parameters, a response format's schema
MAX_SEQUENCES = 8  # n: each one is a sequence an engine must hold in its KV cache
INT64 = 2**63 - 1


class Refused(ValueError):
    """A request the lab does not take: `param` names the value, `code` says why."""

    def __init__(self, param: str, message: str, code: str = "invalid_value"):
        super().__init__(message)
        self.param, self.message, self.code = param, message, code


Check = Callable[[Any, str], None]


def _where(path: str) -> str:
    return path or "the request body"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def string(max_len: int = 4096, pattern: str | None = None, what: str = "") -> Check:
    compiled = re.compile(pattern, re.DOTALL) if pattern else None

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise Refused(path, f"{_where(path)} must be a string, not {_kind(value)}.")
        if len(value) > max_len:
            raise Refused(path, f"{_where(path)} is longer than {max_len} characters.")
        if compiled is not None and not compiled.fullmatch(value):
            raise Refused(path, f"{_where(path)} must be {what or 'of the form ' + compiled.pattern}.")
    return check


def integer(low: int, high: int) -> Check:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refused(path, f"{_where(path)} must be an integer, not {_kind(value)}.")
        if not low <= value <= high:
            raise Refused(path, f"{_where(path)} must be between {low} and {high}.")
    return check


def number(low: float, high: float) -> Check:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise Refused(path, f"{_where(path)} must be a number, not {_kind(value)}.")
        if not low <= value <= high:
            raise Refused(path, f"{_where(path)} must be between {low:g} and {high:g}.")
    return check


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise Refused(path, f"{_where(path)} must be true or false, not {_kind(value)}.")


def null(value: Any, path: str) -> None:
    if value is not None:
        raise Refused(path, f"{_where(path)} must be null here.")


def one_of(*values: str) -> Check:
    def check(value: Any, path: str) -> None:
        if value not in values:
            raise Refused(path, f"{_where(path)} must be one of {', '.join(map(repr, values))}.")
    return check


def list_of(item: Check, max_items: int = MAX_ITEMS, min_items: int = 0) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise Refused(path, f"{_where(path)} must be a list, not {_kind(value)}.")
        if not min_items <= len(value) <= max_items:
            raise Refused(path, f"{_where(path)} must hold {min_items} to {max_items} items.")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]")
    return check


def either(*checks: Check, what: str) -> Check:
    """The first check that takes the value wins; the message names what was expected."""
    def check(value: Any, path: str) -> None:
        errors = []
        for option in checks:
            try:
                option(value, path)
                return
            except Refused as error:
                errors.append(error)
        deepest = max(errors, key=lambda e: len(e.param))
        if deepest.param != path:  # the value had the right shape, something inside it is wrong
            raise deepest
        raise Refused(path, f"{_where(path)} must be {what}.")
    return check


def obj(fields: Mapping[str, Check], required: tuple[str, ...] = (), where: str = "") -> Check:
    """An object with exactly these keys (the required ones present, no others)."""
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise Refused(path, f"{_where(path)} must be an object, not {_kind(value)}.")
        for key in value:
            if key not in fields:
                refuse_key(key, path, fields, where)
        for key in required:
            if key not in value:
                where_key = _join(path, key)
                raise Refused(where_key, f"{where_key} is required.", "missing_required_parameter")
        for key, element in value.items():
            fields[key](element, _join(path, key))
    return check


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def refuse_key(key: Any, path: str, fields: Mapping[str, Check], where: str) -> None:
    shown = repr(key)[:80]
    accepted = ", ".join(sorted(fields))
    place = f"in {path}" if path else f"for {where}" if where else "here"
    raise Refused(_join(path, str(key)[:80]), f"Unknown parameter {shown} {place}: this lab accepts {accepted}.",
                  "unknown_parameter")


def json_value(depth: int = MAX_JSON_DEPTH) -> Check:
    """Free-form JSON (a JSON schema, a tool's parameters), bounded in depth and size."""
    def check(value: Any, path: str, level: int = 0) -> None:
        if level > depth:
            raise Refused(path, f"{_where(path)} is nested deeper than {depth} levels.")
        if isinstance(value, dict):
            if len(value) > MAX_ITEMS:
                raise Refused(path, f"{_where(path)} has more than {MAX_ITEMS} keys.")
            for key, element in value.items():
                check(element, _join(path, str(key)[:80]), level + 1)
        elif isinstance(value, list):
            if len(value) > MAX_ITEMS:
                raise Refused(path, f"{_where(path)} has more than {MAX_ITEMS} items.")
            for index, element in enumerate(value):
                check(element, f"{path}[{index}]", level + 1)
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            raise Refused(path, f"{_where(path)} is longer than {MAX_TEXT} characters.")
    return lambda value, path: check(value, path)


def json_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise Refused(path, f"{_where(path)} must be an object, not {_kind(value)}.")
    json_value()(value, path)


# JSON Schema as tools' parameters and structured answers use it: vLLM compiles each into a
# grammar (xgrammar), and some schemas crash its engine or take minutes to compile (tuple
# `items`, huge repeat counts: vllm #43920, xgrammar #863). So a plain subset, bounded.
SCHEMA_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
MAX_REPEAT = 4096  # minItems, maxItems, minLength, maxLength, {n,m} in a pattern


def _pattern(value: Any, path: str) -> None:
    string(256)(value, path)
    if any(int(n) > MAX_REPEAT for n in re.findall(r"\{(\d+)", value)):
        raise Refused(path, f"{_where(path)} repeats more than {MAX_REPEAT} times.")


def json_schema(value: Any, path: str, depth: int = 0) -> None:
    if isinstance(value, bool):
        return
    if depth > 16:
        raise Refused(path, f"{_where(path)} is nested deeper than 16 schemas.")
    if not isinstance(value, dict):
        raise Refused(path, f"{_where(path)} must be a JSON schema object.")
    nested = lambda v, p: json_schema(v, p, depth + 1)  # noqa: E731
    schemas = list_of(nested, max_items=64, min_items=1)
    obj({
        "type": either(one_of(*SCHEMA_TYPES), list_of(one_of(*SCHEMA_TYPES), max_items=7, min_items=1),
                       what="a JSON type or a list of them"),
        "properties": _schema_map(nested), "required": list_of(string(256), max_items=256),
        "additionalProperties": nested, "items": nested,
        "enum": list_of(either(string(1024), number(-1e300, 1e300), boolean, null, what="a plain value"),
                        max_items=256, min_items=1),
        "const": either(string(1024), number(-1e300, 1e300), boolean, null, what="a plain value"),
        "anyOf": schemas, "oneOf": schemas, "allOf": schemas,
        "$defs": _schema_map(nested), "definitions": _schema_map(nested),
        "$ref": string(256, r"#/(\$defs|definitions)/[A-Za-z0-9_.-]+", "a reference into this schema's $defs"),
        "title": string(1024), "description": string(MAX_TEXT), "default": json_value(8), "examples": json_value(8),
        "format": one_of("date-time", "date", "time", "email", "uri", "uuid", "ipv4", "ipv6", "hostname"),
        "pattern": _pattern,
        "minimum": number(-1e300, 1e300), "maximum": number(-1e300, 1e300),
        "exclusiveMinimum": number(-1e300, 1e300), "exclusiveMaximum": number(-1e300, 1e300),
        "multipleOf": number(1e-300, 1e300),
        **{key: integer(0, MAX_REPEAT) for key in ("minItems", "maxItems", "minLength", "maxLength",
                                                   "minProperties", "maxProperties")},
        "uniqueItems": boolean, "nullable": boolean,
    }, where="a JSON schema")(value, path)


def _schema_map(schema: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict) or len(value) > 256:
            raise Refused(path, f"{_where(path)} must be an object of at most 256 named schemas.")
        for key, element in value.items():
            string(256)(key, _join(path, str(key)[:80]))
            schema(element, _join(path, str(key)[:80]))
    return check


# -- shared values ---------------------------------------------------------------------------

MODEL = string(64, r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?", "a model name from /v1/models")
NAME = string(64, r"[A-Za-z0-9_-]{1,64}", "1 to 64 of A-Z a-z 0-9 _ -")
TEXT = string(MAX_TEXT)
BASE64 = r"[A-Za-z0-9+/]*={0,2}"
TOKEN_IDS = list_of(integer(0, 2**31 - 1), max_items=1_000_000, min_items=1)
STOP = either(string(256), list_of(string(256), max_items=16), null, what="a string or a list of up to 16 strings")
USER = string(256)


def data_url(*media_types: str) -> Check:
    """Media inline only: a data: URL of one of these types, never an address to fetch."""
    kinds = "|".join(re.escape(t) for t in media_types)
    return string(MAX_TEXT, rf"data:({kinds});base64,{BASE64}",
                  f"a data: URL ({', '.join(media_types)}, base64): this lab fetches no URLs")


IMAGE_URL = data_url("image/png", "image/jpeg", "image/gif", "image/webp")
CONTENT_PARTS: dict[str, Check] = {
    "text": obj({"type": one_of("text"), "text": TEXT}, ("type", "text")),
    "image_url": obj({"type": one_of("image_url"),
                      "image_url": obj({"url": IMAGE_URL, "detail": one_of("auto", "low", "high")}, ("url",))},
                     ("type", "image_url")),
    "input_audio": obj({"type": one_of("input_audio"),
                        "input_audio": obj({"data": string(MAX_TEXT, BASE64, "base64 audio data"),
                                            "format": one_of("wav", "mp3")}, ("data", "format"))},
                       ("type", "input_audio")),
    # file_data inline only; a file_id is refused (LiteLLM would fetch an http(s) one itself)
    "file": obj({"type": one_of("file"),
                 "file": obj({"file_data": data_url("application/pdf", "text/plain"), "filename": string(255)},
                             ("file_data",))},
                ("type", "file")),
    "refusal": obj({"type": one_of("refusal"), "refusal": TEXT}, ("type", "refusal")),
}


def tagged(tag: str, variants: Mapping[str, Check], allowed: tuple[str, ...] | None = None) -> Check:
    """An object whose `tag` key says which of `variants` it is (only those `allowed`)."""
    names = tuple(variants) if allowed is None else allowed

    def check(value: Any, path: str) -> None:
        kind = value.get(tag) if isinstance(value, dict) else None
        if kind not in names:
            where = _join(path, tag)
            raise Refused(where, f"{where} must be one of {', '.join(map(repr, names))}.")
        variants[kind](value, path)
    return check


def content_part(allowed: tuple[str, ...]) -> Check:
    return tagged("type", CONTENT_PARTS, allowed)


def content(allowed: tuple[str, ...], nullable: bool = False) -> Check:
    options = [TEXT, list_of(content_part(allowed), min_items=1)]
    return either(*options, *([null] if nullable else []),
                  what=f"a string or a list of content parts ({', '.join(allowed)})")


# (Open WebUI hands back the streamed tool calls with their index)
TOOL_CALL = obj({"id": string(256), "type": one_of("function"), "index": integer(0, 127),
                 "function": obj({"name": NAME, "arguments": TEXT}, ("name", "arguments"))},
                ("id", "type", "function"))
MESSAGES: dict[str, Check] = {
    "system": obj({"role": one_of("system"), "content": content(("text",)), "name": NAME}, ("role", "content")),
    "developer": obj({"role": one_of("developer"), "content": content(("text",)), "name": NAME},
                     ("role", "content")),
    "user": obj({"role": one_of("user"), "name": NAME,
                 "content": content(("text", "image_url", "input_audio", "file"))}, ("role", "content")),
    # an assistant message as the SDK hands it back (null fields included)
    "assistant": obj({"role": one_of("assistant"), "content": content(("text", "refusal"), nullable=True),
                      "name": NAME, "refusal": either(TEXT, null, what="a string or null"),
                      "tool_calls": either(list_of(TOOL_CALL, max_items=128), null, what="a list of tool calls"),
                      "reasoning_content": either(TEXT, null, what="a string or null"),
                      "annotations": either(list_of(json_object, max_items=0), null, what="null"),
                      "audio": null, "function_call": null},
                     ("role",)),
    "tool": obj({"role": one_of("tool"), "content": content(("text",)), "tool_call_id": string(256)},
                ("role", "content", "tool_call_id")),
}

message = tagged("role", MESSAGES)


TOOL = obj({"type": one_of("function"),
            "function": obj({"name": NAME, "description": string(MAX_TEXT), "parameters": json_schema,
                             "strict": either(boolean, null, what="true, false or null")}, ("name",))},
           ("type", "function"))
TOOL_CHOICE = either(one_of("none", "auto", "required"),
                     obj({"type": one_of("function"), "function": obj({"name": NAME}, ("name",))},
                         ("type", "function")),
                     what="'none', 'auto', 'required' or a named function")
RESPONSE_FORMAT = either(
    obj({"type": one_of("text", "json_object")}, ("type",)),
    obj({"type": one_of("json_schema"),
         "json_schema": obj({"name": NAME, "description": string(MAX_TEXT), "schema": json_schema,
                             "strict": either(boolean, null, what="true, false or null")}, ("name",))},
        ("type", "json_schema")),
    what="{'type': 'text'}, {'type': 'json_object'} or a json_schema")
STREAM_OPTIONS = obj({"include_usage": boolean, "continuous_usage_stats": boolean})


def logit_bias(value: Any, path: str) -> None:
    """Token ids (as OpenAI writes them: strings of digits) to a bias from -100 to 100."""
    if not isinstance(value, dict) or len(value) > 300:
        raise Refused(path, f"{_where(path)} must be an object of at most 300 token ids.")
    for key, bias in value.items():
        if not re.fullmatch(r"[0-9]{1,10}", str(key)):
            raise Refused(_join(path, str(key)[:80]), f"{_where(path)} keys must be token ids (digits).")
        number(-100, 100)(bias, _join(path, str(key)))


# What OpenAI's API takes for sampling, shared by chat and completions.
SAMPLING: dict[str, Check] = {
    "model": MODEL,
    "stream": boolean,
    "stream_options": either(STREAM_OPTIONS, null, what="an object or null"),
    "temperature": either(number(0, 2), null, what="a number from 0 to 2"),
    "top_p": either(number(0, 1), null, what="a number from 0 to 1"),
    "n": either(integer(1, MAX_SEQUENCES), null, what=f"an integer from 1 to {MAX_SEQUENCES}"),
    "max_tokens": either(integer(1, 10_000_000), null, what="a positive integer"),
    "stop": STOP,
    "presence_penalty": either(number(-2, 2), null, what="a number from -2 to 2"),
    "frequency_penalty": either(number(-2, 2), null, what="a number from -2 to 2"),
    "logit_bias": either(logit_bias, null, what="an object of token ids"),
    "seed": either(integer(-INT64 - 1, INT64), null, what="an integer"),
    "user": USER,
}
# vLLM's own sampling parameters (vllm/entrypoints/openai/protocol.py, v0.11.1) that chat
# front ends send: Open WebUI's advanced parameters map top_k, min_p and repetition_penalty
# straight through. Nothing else of vLLM's extras (chat_template, guided_*, kv_transfer_params,
# ...): they steer the server rather than the sampling.
VLLM_EXTRAS: dict[str, Check] = {
    "top_k": either(integer(-1, 1_000_000), null, what="-1 (off) or a positive integer"),
    "min_p": either(number(0, 1), null, what="a number from 0 to 1"),
    "repetition_penalty": either(number(0.01, 2), null, what="a number above 0 and up to 2"),
}

CHAT: dict[str, Check] = {
    **SAMPLING, **VLLM_EXTRAS,
    "messages": list_of(message, min_items=1),
    "max_completion_tokens": either(integer(1, 10_000_000), null, what="a positive integer"),
    "logprobs": either(boolean, null, what="true, false or null"),
    "top_logprobs": either(integer(0, 20), null, what="an integer from 0 to 20"),
    "response_format": RESPONSE_FORMAT,
    "tools": list_of(TOOL, max_items=128),
    "tool_choice": TOOL_CHOICE,
    "parallel_tool_calls": boolean,
    # OpenAI's reasoning models' knob; Open WebUI sends it when set. vLLM passes it to the chat
    # template, which ignores it for these models.
    "reasoning_effort": either(one_of("minimal", "low", "medium", "high"), null,
                               what="'minimal', 'low', 'medium', 'high' or null"),
}
COMPLETION: dict[str, Check] = {
    **SAMPLING, **VLLM_EXTRAS,
    # text only: LiteLLM 1.80.8's vLLM path cannot pass token ids on (it answers 500, echoing
    # them), and a short list: each prompt is a sequence the engine generates for
    "prompt": either(TEXT, list_of(TEXT, max_items=32, min_items=1), what="a string or a list of up to 32 strings"),
    "echo": boolean,
    "logprobs": either(integer(0, 20), null, what="an integer from 0 to 20"),
}
EMBEDDING: dict[str, Check] = {
    "model": MODEL,
    "input": either(TEXT, list_of(TEXT, min_items=1), TOKEN_IDS, list_of(TOKEN_IDS, min_items=1),
                    what="a string, a list of strings or token ids"),
    "encoding_format": one_of("float", "base64"),
    "dimensions": integer(1, 65536),
    "user": USER,
    # vLLM's chat-style embedding request: how CLIP gets an image (inline, as everywhere)
    "messages": list_of(message, max_items=64, min_items=1),
}
BODIES: dict[str, tuple[dict[str, Check], tuple[str, ...]]] = {
    "/v1/chat/completions": (CHAT, ("model", "messages")),
    "/v1/completions": (COMPLETION, ("model", "prompt")),
    "/v1/embeddings": (EMBEDDING, ("model",)),
}


def check_body(route: str, body: Any) -> None:
    """Refuse (raise Refused) a body that is not exactly what this lab takes at `route`."""
    if route not in BODIES:
        raise Refused("", f"{route} takes no request body here.", "not_found")
    fields, required = BODIES[route]
    obj(fields, required, where=route)(body, "")
    if route == "/v1/embeddings" and ("input" in body) == ("messages" in body):
        raise Refused("input", "Send either 'input' (text) or 'messages' (an image as a data: URL), not both.",
                      "missing_required_parameter" if "input" not in body else "invalid_value")


def route_name(method: str, path: str) -> str:
    """An API route's name for a metric label: the path, one model's path as its pattern."""
    return "/v1/models/{model}" if method == "GET" and MODEL_PATH.fullmatch(path) else path


def is_api_route(method: str, path: str) -> bool:
    """The OpenAI endpoints this lab serves, exactly as a client must spell them."""
    if method == "GET":
        return path == "/v1/models" or MODEL_PATH.fullmatch(path) is not None
    return method == "POST" and path in BODIES
