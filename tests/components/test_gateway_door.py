"""The door holds against what one device's token can send (homelab/lab/gateway.py: the
Caddyfile, keys and LiteLLM door exactly as the deploy wrote them on the GPU-node lab
host, Caddy 2.11 and LiteLLM 1.80.8 running them, a STAND-IN for vLLM behind, and a
STAND-IN internal service that no request may ever reach).

Four classes of attack, several variants each, sent byte for byte as written (raw HTTP,
no client library cleaning them up): paths, headers, bodies, URLs inside messages. Each is
refused; the internal service, the model server and (for paths) LiteLLM itself record
that nothing got through; and afterwards another device's plain request reaches the model
server and nothing else. Then the real clients: what the official `openai` SDK and Open
WebUI send still passes."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import openai
import pytest
import requests

from homelab.lab.gateway import LITELLM_INNER_PORT, LITELLM_PORT, UPSTREAM_PORT
from homelab.lab.network import HOST_SIDE

pytestmark = pytest.mark.lab


def raw(gateway, request: bytes, at: tuple[str, int] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange over a plain socket: the request exactly as given, to the gateway
    (or `at`, the door's address: Open WebUI's and Prometheus's side)."""
    with socket.create_connection(at or (gateway.address, gateway.cfg.gateway_port), timeout=30) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line)
            if b"\r\n\r\n" in data and len(body) >= int(headers.get("Content-Length", "-1")) >= 0:
                break
    status = int(head.split(b" ", 2)[1])
    return status, headers, body


def http(method: str, target: str, token: str | None, body: bytes = b"", headers: list[str] | None = None,
         host: str = "gpu-node") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if body:
        lines += [f"Content-Length: {len(body)}"]
    lines += headers if headers is not None else (["Content-Type: application/json"] if body else [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@pytest.fixture
def watched(gateway):
    """Records before; after the test, no request reached the internal service, and an
    innocent request from another device reached the model server alone."""
    before = {"internal": len(gateway.internal_requests()), "upstream": len(gateway.upstream_requests())}
    yield before
    assert gateway.internal_requests()[before["internal"]:] == [], "a request reached the internal service"
    upstream = len(gateway.upstream_requests())
    for _ in range(3):  # several: LiteLLM's router would spread them over every deployment it knows
        answer = gateway.call("/v1/chat/completions", gateway.tokens()["macbook"],
                              {"model": "mistral-7b-instruct", "messages": [{"role": "user", "content": "innocent"}]})
        assert answer.status_code == 200, answer.text
    reached = gateway.upstream_requests()[upstream:]
    assert [r["body"]["messages"][-1]["content"] for r in reached] == ["innocent"] * 3
    assert gateway.internal_requests()[before["internal"]:] == [], "an innocent request was sent elsewhere"


# -- 1. Paths: only the API's own, byte for byte ----------------------------------------------

PATHS = [
    ("GET", "/metrics/../v1/models"), ("GET", "/v1/models/../../metrics"), ("GET", "/v1/../metrics/"),
    ("GET", "/v1//models"), ("GET", "//v1/models"), ("GET", "/v1/./models"), ("GET", "/./v1/models"),
    ("GET", "/v1/%6dodels"), ("GET", "/v1/models%2F..%2F..%2Fmetrics"), ("GET", "/v1/models/%2e%2e/%2e%2e/metrics"),
    ("GET", "/v1/%2e%2e/metrics"), ("GET", "/V1/models"), ("GET", "/v1/Models"), ("GET", "/v1/models/"),
    ("GET", "/v1/models?return_wildcard_routes=true"), ("GET", "/v1/models;x"), ("GET", "/v1/models\\..\\metrics"),
    ("GET", "/v1/models/unknown-model"), ("GET", "/v1/models/gpt2/../../../metrics"), ("GET", "/metrics/"),
    ("GET", "/key/info"), ("POST", "/key/generate"), ("GET", "/credentials"), ("GET", "/team/list"),
    ("GET", "/health/readiness"), ("GET", "/v1/model/info"), ("POST", "/chat/completions"),
    ("POST", "/v1/chat/completions?api-version=2024-01-01"), ("POST", "/v1/chat/completions/"),
    ("POST", "/v1/chat/completions/.."), ("POST", "/openai/deployments/gpt2/chat/completions"),
    ("POST", "/v1/responses"), ("GET", "http://gpu-node:8080/v1/models"), ("GET", "*"),
]


@pytest.mark.parametrize(("method", "target"), PATHS, ids=[f"{m} {t}" for m, t in PATHS])
def test_only_the_apis_own_paths_get_through(gateway, watched, method, target):
    body = json.dumps({"model": "gpt2", "messages": [{"role": "user", "content": "hi"}]}).encode() \
        if method == "POST" else b""
    litellm_before = len(gateway.litellm_requests())
    status, headers, answer = raw(gateway, http(method, target, gateway.tokens()["pixel"], body))
    assert status in (400, 404), (status, answer[:300])
    if status == 404:
        assert json.loads(answer)["error"]["code"] == "not_found"
    assert gateway.litellm_requests()[litellm_before:] == [], "the request reached LiteLLM"
    assert len(gateway.upstream_requests()) == watched["upstream"]


@pytest.mark.parametrize(("method", "target"), [("DELETE", "/v1/models"), ("POST", "/v1/models"),
                                                 ("GET", "/v1/chat/completions"), ("PUT", "/v1/embeddings"),
                                                 ("HEAD", "/v1/models"), ("OPTIONS", "/v1/completions")])
def test_each_path_takes_its_method_only(gateway, watched, method, target):
    litellm_before = len(gateway.litellm_requests())
    status, _, answer = raw(gateway, http(method, target, gateway.tokens()["pixel"]))
    assert status == 405, (status, answer[:300])
    assert gateway.litellm_requests()[litellm_before:] == []


def test_the_apis_paths_themselves_pass(gateway):
    token = gateway.tokens()["pixel"]
    assert raw(gateway, http("GET", "/v1/models", token))[0] == 200
    status, _, answer = raw(gateway, http("GET", "/v1/models/gpt2", token))
    assert status == 200 and json.loads(answer)["id"] == "gpt2"


# -- 2. Headers: one token, one content type, nothing the client adds goes on ------------------

def test_a_second_authorization_header_is_refused(gateway, watched):
    good, other = gateway.tokens()["pixel"], gateway.tokens()["ipad"]
    for extra in ([f"Authorization: Bearer {other}"], ["Authorization: Bearer not-a-token"],
                  [f"Authorization: Bearer {good}"], ["Authorization: Basic eDp5"]):
        status, _, answer = raw(gateway, http("GET", "/v1/models", good, headers=extra))
        assert status == 401 and json.loads(answer)["error"]["code"] == "invalid_api_key", (extra, answer)
    status, _, _ = raw(gateway, http("GET", "/v1/models", None, headers=[f"Authorization: Bearer {good},{good}"]))
    assert status == 401


@pytest.mark.parametrize("content_type", [
    ["Content-Type: application/json", "Content-Type: application/x-www-form-urlencoded"],
    ["Content-Type: application/x-www-form-urlencoded"], ["Content-Type: text/plain"], [],
    ["Content-Type: application/json, application/x-www-form-urlencoded"], ["Content-Type: multipart/form-data"],
])
def test_one_json_content_type_or_415(gateway, watched, content_type):
    body = json.dumps({"model": "gpt2", "messages": [{"role": "user", "content": "hi"}]}).encode()
    status, _, answer = raw(gateway, http("POST", "/v1/chat/completions", gateway.tokens()["pixel"], body,
                                          headers=content_type))
    assert status == 415 and json.loads(answer)["error"]["code"] == "unsupported_media_type", answer
    assert len(gateway.upstream_requests()) == watched["upstream"]


STEERING_HEADERS = ["x-litellm-timeout: 0.001", "x-litellm-num-retries: 10", "x-litellm-stream-timeout: 0.001",
                    "x-litellm-tags: a,b", "x-litellm-spend-logs-metadata: {}", "openai-organization: other",
                    "api-key: x", "x-litellm-api-key: x", "x-api-key: x", "Cache-Control: s-maxage=600",
                    "X-Homelab-Device: macbook", "X-Forwarded-For: 10.77.0.99", "anthropic-beta: x",
                    "x-litellm-enable-message-redaction: true"]


def test_headers_a_client_adds_never_reach_litellm(gateway, watched):
    """Retries and timeouts by header: LiteLLM would honour them. The gateway drops every
    header of the client's; LiteLLM's door refuses a request carrying any it does not know,
    so the 200 shows none arrived, and a failing engine is tried exactly once."""
    body = json.dumps({"model": "gpt2", "messages": [{"role": "user", "content": "homelab-test: fail"}]}).encode()
    before = len(gateway.upstream_requests())
    status, headers, _ = raw(gateway, http("POST", "/v1/chat/completions", gateway.tokens()["pixel"], body,
                                           headers=["Content-Type: application/json", *STEERING_HEADERS]))
    assert status == 502  # the stand-in engine's failure, once
    assert len(gateway.upstream_requests()) - before == 1, "one request, one attempt at the engine"
    body = json.dumps({"model": "gpt2", "messages": [{"role": "user", "content": "hi"}]}).encode()
    status, _, _ = raw(gateway, http("POST", "/v1/chat/completions", gateway.tokens()["pixel"], body,
                                     headers=["Content-Type: application/json", *STEERING_HEADERS]))
    assert status == 200


def chunked(body: bytes, trailers: list[str] | None = None) -> bytes:
    """A body in chunks (no Content-Length), with trailer fields after the last one."""
    half = len(body) // 2
    out = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:half], body[half:]))
    return out + b"0\r\n" + "".join(f"{t}\r\n" for t in trailers or []).encode() + b"\r\n"


def test_chunked_bodies_trailers_and_method_overrides_change_nothing(gateway, watched):
    """A body without a declared length (chunked, with steering trailer fields after it) is
    refused with a 411 before anything parses it; a method override header means nothing."""
    token = gateway.tokens()["pixel"]
    head = ["Content-Type: application/json", "Transfer-Encoding: chunked"]
    failing = json.dumps({"model": "gpt2", "messages": [{"role": "user", "content": "homelab-test: fail"}]}).encode()
    for body, trailers in ((BODIES["fallback_escaped"].encode(), []),
                           (failing, ["X-Litellm-Num-Retries: 10", "X-Litellm-Timeout: 0.001"])):
        request = http("POST", "/v1/chat/completions", token, headers=[*head, "Trailer: X-Litellm-Num-Retries"])
        status, _, answer = raw(gateway, request + chunked(body, trailers))
        assert status == 411 and json.loads(answer)["error"]["code"] == "length_required", answer
    assert len(gateway.upstream_requests()) == watched["upstream"]
    # straight at the door (Open WebUI's side): refused too, and the connection closed with it
    key = gateway.litellm_key("open-webui")
    with socket.create_connection((HOST_SIDE, LITELLM_PORT), timeout=30) as conn:
        conn.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: litellm\r\nAuthorization: Bearer {key}\r\n"
                      + "\r\n".join(head) + "\r\n\r\n").encode() + chunked(failing, ["X-Litellm-Timeout: 1"]))
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") and b"transfer-encoding" in answer.lower()
    # a method override header means nothing: GET stays GET (and /v1/models answers)
    status, _, answer = raw(gateway, http("GET", "/v1/models", token, headers=["X-HTTP-Method-Override: DELETE",
                                                                                 "X-Method-Override: POST"]))
    assert status == 200 and json.loads(answer)["object"] == "list"


def test_litellms_door_refuses_headers_it_does_not_know(gateway):
    """Behind the gateway: a caller with a valid key (Open WebUI's) and a steering header."""
    key = gateway.litellm_key("open-webui")
    for header in STEERING_HEADERS:
        name, value = header.split(": ", 1)
        if name.lower() in ("x-forwarded-for",):
            continue
        answer = gateway.call_litellm("/v1/models", key, headers={name: value})
        assert answer.status_code in (400, 401), (header, answer.status_code, answer.text)


# -- 3. Bodies: the API's parameters only, however a key is hidden ----------------------------

TARGET = "http://10.77.0.1:18190/v1"
CHAT = '"model": "mistral-7b-instruct", "messages": [{"role": "user", "content": "hi"}]'
def chat_with(extra: str) -> str:
    """A chat body as raw JSON text with `extra` members; @T stands for the target URL."""
    return "{" + CHAT + ", " + extra.replace("@T", TARGET) + "}"


BODIES = {
    # the issue's own: a request-level fallback that names its endpoint, keys escaped
    "fallback_escaped": chat_with('"mock_testing_fallbacks": true, "fallbacks": [{"model": "mistral-7b-instruct", '
                                  '"api\\u005fbase": "@T", "api\\u005fkey": "x"}]'),
    "fallbacks_key_escaped": chat_with('"fall\\u0062acks": [{"model": "gpt2", "api_base": "@T"}]'),
    "context_window_fallbacks": chat_with('"context\\u005fwindow_fallbacks": [{"mistral-7b-instruct": ["gpt2"]}]'),
    "mock_escaped": chat_with('"mock\\u005fresponse": "pwned"'),
    "num_retries_escaped": chat_with('"num\\u005fretries": 10'),
    "timeout_escaped": chat_with('"time\\u006fut": 0.001'),
    "max_retries": chat_with('"max\\u005fretries": 5'),
    "callbacks": chat_with('"success\\u005fcallback": ["langsmith"], "langsmith_base_url": "@T"'),
    "logging_host": chat_with('"langfuse\\u005fhost": "@T"'),
    "metadata": chat_with('"metadata": {"model_info": {"api_base": "@T"}}'),
    "litellm_metadata": chat_with('"litellm\\u005fmetadata": {"tags": ["x"]}'),
    "extra_body": chat_with('"extra_body": {"api_base": "@T"}'),
    "nested_in_message": '{"model": "gpt2", "messages": [{"role": "user", "content": "hi", '
                         '"api\\u005fbase": "' + TARGET + '"}]}',
    "nested_in_tool": chat_with('"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}, '
                                '"api\\u005fbase": "@T"}]'),
    "nested_in_stream_options": chat_with('"stream": true, "stream_options": {"include_usage": true, '
                                          '"api\\u005fbase": "@T"}'),
    "duplicated_key": chat_with('"api\\u005fbase": "@T", "api\\u005fbase": "@T"'),
    "duplicated_model": '{"model": "gpt2", ' + CHAT + ', "caching": true}',
    "user_config": chat_with('"user\\u005fconfig": {"model_list": []}'),
    "guardrails": chat_with('"guardrails": []'),
    "provider_prefix": '{"model": "openai/gpt2", "messages": [{"role": "user", "content": "hi"}]}',
    "not_an_object": '[{"model": "gpt2"}]',
    "wrong_type": '{"model": "gpt2", "messages": "hi"}',
    "out_of_bounds": chat_with('"n": 1000'),
    "unknown_role": '{"model": "gpt2", "messages": [{"role": "admin", "content": "hi"}]}',
    # schemas vLLM compiles into grammars: the forms that crash its engine or never finish
    "tuple_items_schema": chat_with('"response_format": {"type": "json_schema", "json_schema": {"name": "x", '
                                    '"schema": {"type": "array", "items": [{"type": "string"}]}}}'),
    "huge_repeat_schema": chat_with('"tools": [{"type": "function", "function": {"name": "f", "parameters": '
                                    '{"type": "array", "minItems": 100000000}}}]'),
    "remote_ref_schema": chat_with('"response_format": {"type": "json_schema", "json_schema": {"name": "x", '
                                   '"schema": {"$ref": "@T/schema.json"}}}'),
    "nan": chat_with('"temperature": NaN'),
    "deep_nesting": chat_with('"tools": [{"type": "function", "function": {"name": "f", "parameters": '
                              + '{"properties": {"a": ' * 40 + '{}' + '}}' * 40 + '}}]'),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_bodies_outside_the_api_are_refused(gateway, watched, name):
    seen = len(gateway.litellm_requests())
    status, _, answer = raw(gateway, http("POST", "/v1/chat/completions", gateway.tokens()["pixel"],
                                          BODIES[name].encode()))
    # the door answers (it reads the token before the body): LiteLLM's own check never has to
    assert status == 400, (status, answer[:400])
    assert gateway.litellm_requests()[seen:] == [], "the door passed the body on to LiteLLM"
    assert len(gateway.upstream_requests()) == watched["upstream"], "the request reached the model server"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/completions", '{"model": "gpt2", "prompt": "x", "fall\\u0062acks": ["mistral-7b-instruct"]}'),
    ("/v1/completions", '{"model": "gpt2", "prompt": "x", "suffix": "y", "api\\u005fbase": "' + TARGET + '"}'),
    ("/v1/embeddings", '{"model": "all-minilm-l6-v2", "input": "x", "num\\u005fretries": 3}'),
    ("/v1/embeddings", '{"model": "all-minilm-l6-v2", "input": "x", "api\\u005fkey": "x", "api_base": "'
     + TARGET + '"}'),
    ("/v1/embeddings", '{"model": "all-minilm-l6-v2", "input": "x", "messages": [{"role": "user", "content": "y"}]}'),
], ids=["completion_fallbacks", "completion_endpoint", "embedding_retries", "embedding_endpoint",
        "embedding_input_and_messages"])
def test_other_endpoints_hold_the_same_model(gateway, watched, path, body):
    seen = len(gateway.litellm_requests())
    status, _, answer = raw(gateway, http("POST", path, gateway.tokens()["pixel"], body.encode()))
    assert status == 400, (status, answer[:400])
    assert gateway.litellm_requests()[seen:] == [], "the door passed the body on to LiteLLM"
    assert len(gateway.upstream_requests()) == watched["upstream"]


def test_a_body_with_every_key_escaped_is_refused_by_name(gateway):
    """Every key escaped: the door parses the body and names the first unknown key."""
    body = chat_with('"mock\\u005ftesting\\u005ffallbacks": true, "fall\\u0062acks": [{"model": "gpt2", '
                     '"api\\u005fbase": "@T"}]')
    status, _, answer = raw(gateway, http("POST", "/v1/chat/completions", gateway.tokens()["pixel"], body.encode()))
    error = json.loads(answer)["error"]
    assert status == 400 and error["type"] == "invalid_request_error", answer
    assert error["param"] in ("mock_testing_fallbacks", "fallbacks") and "Unknown parameter" in error["message"]


LOGGING = [  # LiteLLM would install these loggers before any hook of its own refuses the request
    chat_with('"call\\u0062acks": ["langsmith"], "langsmith\\u005fbase_url": "@T/x?", '
              '"langsmith\\u005fapi_key": "os.environ/LITELLM_MASTER_KEY"'),
    chat_with('"failure\\u005fcallback": ["langsmith"], "langsmith_base_url": "@T/y?", '
              '"langsmith_api_key": "os.environ/HOMELAB_GATEWAY_KEY"'),
    chat_with('"success\\u005fcallback": ["posthog"], "posthog\\u005fapi_url": "@T/z"'),
    chat_with('"callbacks": ["langfuse"], "langfuse_host": "@T/l", "langfuse_public_key": "os.environ/VLLM_API_KEY"'),
]


def test_logging_hooks_named_in_a_body_never_run(gateway, watched):
    """Through the gateway with a device's token, and straight at LiteLLM's door with no key,
    a wrong one and Open WebUI's: refused, and no logger ever sends anything anywhere (they
    batch for seconds: the internal service is watched for 15 s)."""
    for body in LOGGING:
        status, _, answer = raw(gateway, http("POST", "/v1/chat/completions", gateway.tokens()["pixel"],
                                              body.encode()))
        assert status in (400, 401), answer[:300]
        for key in (None, "not-a-key", gateway.litellm_key("open-webui")):
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
            answer = requests.post(f"{gateway.litellm_url}/v1/chat/completions", data=body, headers=headers,
                                   timeout=30)
            assert answer.status_code in (400, 401), answer.text[:300]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert gateway.internal_requests()[watched["internal"]:] == [], "a logger sent a request"
        time.sleep(1)


# -- 4. URLs inside messages: media inline only ------------------------------------------------

INTERNAL = "http://10.77.0.1:18190"
URLS = [f"{INTERNAL}/x.png", f"{INTERNAL}/redirect", "https://10.77.0.1:18190/x.png", "file:///etc/passwd",
        "http://127.0.0.1:18182/metrics/", "http://[::1]:4000/metrics/", f"{INTERNAL}/x.png#data:image/png;base64,",
        "data:text/html;base64,PGgxPg==", "data:image/png;base64,not base64!", "DATA:image/png;base64,AAAA"]
PARTS = {
    "image_url": lambda url: {"type": "image_url", "image_url": {"url": url}},
    "image_url_string": lambda url: {"type": "image_url", "image_url": url},
    "file_id": lambda url: {"type": "file", "file": {"file_id": url}},
    "file_data": lambda url: {"type": "file", "file": {"file_data": url, "filename": "x.pdf"}},
    "input_audio": lambda url: {"type": "input_audio", "input_audio": {"data": url, "format": "wav"}},
    "audio_url": lambda url: {"type": "audio_url", "audio_url": {"url": url}},
    "video_url": lambda url: {"type": "video_url", "video_url": {"url": url}},
    "image_pil": lambda url: {"type": "image_pil", "image_pil": url},
}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_no_url_inside_a_message_is_fetched(gateway, watched, part):
    token = gateway.tokens()["pixel"]
    for url in URLS:
        content = [{"type": "text", "text": "what is this?"}, PARTS[part](url)]
        for path, body in (("/v1/chat/completions", {"model": "clip-vit-b-32", "messages": [
                               {"role": "user", "content": content}]}),
                           ("/v1/embeddings", {"model": "clip-vit-b-32", "messages": [
                               {"role": "user", "content": content}]})):
            status, _, answer = raw(gateway, http("POST", path, token, json.dumps(body).encode()))
            assert status == 400, (part, url, path, status, answer[:300])
    assert len(gateway.upstream_requests()) == watched["upstream"]


def test_urls_in_other_messages_and_roles_are_refused(gateway, watched):
    token = gateway.tokens()["pixel"]
    image = {"type": "image_url", "image_url": {"url": f"{INTERNAL}/x.png"}}
    for messages in ([{"role": "system", "content": [image]}], [{"role": "assistant", "content": [image]}],
                     [{"role": "tool", "tool_call_id": "a", "content": [image]}],
                     [{"role": "user", "content": "hi"}, {"role": "user", "content": [image]}]):
        status, _, answer = raw(gateway, http("POST", "/v1/chat/completions", token, json.dumps(
            {"model": "mistral-7b-instruct", "messages": messages}).encode()))
        assert status == 400, (messages, answer[:300])


PNG = ("data:image/png;base64,"
       "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_an_inline_image_still_reaches_the_model_as_an_image(gateway):
    """vLLM reads an image for CLIP from a chat-style embedding request; with an `input` as
    well it would embed that text instead (its request union prefers the completion form)."""
    before = len(gateway.upstream_requests())
    answer = gateway.call("/v1/embeddings", gateway.tokens()["pixel"], {"model": "clip-vit-b-32", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}]})
    assert answer.status_code == 200, answer.text
    (sent,) = gateway.upstream_requests()[before:]
    assert sent["body"].get("input") is None and sent["body"]["messages"][0]["content"][0]["image_url"]["url"] == PNG


# -- No secret in a metric -----------------------------------------------------------------

def test_the_doors_metrics_answer_only_prometheuss_key_and_name_no_secret(gateway):
    """Behind the gateway, the door's /door-metrics takes Prometheus's key and no other
    caller's; LiteLLM keeps no metrics of its own (no /metrics for anyone, the master key
    included); what the door shows labels tenants by name and holds no key of any kind."""
    assert gateway.call("/v1/chat/completions", gateway.tokens()["pixel"],
                        {"model": "gpt2", "messages": [{"role": "user", "content": "count me"}]}).status_code == 200
    for caller in (None, "gateway", "open-webui"):
        headers = {"Authorization": f"Bearer {gateway.litellm_key(caller)}"} if caller else {}
        refused = requests.get(f"{gateway.litellm_url}/door-metrics", headers=headers, timeout=10)
        assert refused.status_code in (401, 404), (caller, refused.status_code)
    for path in ("/metrics", "/metrics/"):
        assert gateway.call_litellm(path, gateway.litellm_key("metrics")).status_code == 404, path
        answer = requests.get(f"http://127.0.0.1:{LITELLM_INNER_PORT}{path}", timeout=10,
                              headers={"Authorization": f"Bearer {gateway.master_key}"})
        assert answer.status_code == 404 and "litellm_" not in answer.text, (path, answer.status_code)
    # a client's own string never becomes a label value (a series of its own)
    invented = "model-the-lab-does-not-serve-" + "x" * 20
    for body in ({"model": invented, "messages": [{"role": "user", "content": "hi"}]},
                 {"model": invented, "messages": [{"role": "user", "content": "hi"}], "bogus": 1}):
        assert gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], body).status_code in (400, 404)
    metrics = gateway.call_litellm("/door-metrics", gateway.litellm_key("metrics"))
    assert invented not in metrics.text
    assert metrics.status_code == 200
    assert 'homelab_door_requests_total{model="gpt2",route="/v1/chat/completions",status="200",tenant="pixel"}' in \
        metrics.text
    secrets = [value for secret in gateway.deployed.secrets.values() for value in secret.values() if len(value) >= 16]
    assert len(secrets) >= 8
    assert [s for s in secrets if s in metrics.text] == [], "a secret is in the door's metrics"


# what no list foresaw: the metrics path spelt otherwise, or another path with its key
METRICS_SPELLINGS = ["/door-metrics/", "//door-metrics", "/door-metrics/.", "/./door-metrics", "/v1/../door-metrics",
                     "/door%2dmetrics", "/door%2Dmetrics", "/Door-metrics", "/door-metrics?x=1", "/door-metrics;x",
                     "/door-metrics%00", "/door-metrics/../door-metrics", "/metrics", "/metrics/", "/v1/models",
                     "/health/liveliness", "http://litellm/door-metrics"]


def test_prometheuss_key_reads_door_metrics_spelt_exactly_and_nothing_else(gateway):
    """A positive model for the metrics key too: GET /door-metrics byte for byte; any other
    spelling, method or path is refused by the door and reaches nothing behind it; a device's
    token reaches no spelling of it through the gateway."""
    key, door = gateway.litellm_key("metrics"), (HOST_SIDE, LITELLM_PORT)
    status, _, answer = raw(gateway, http("GET", "/door-metrics", key, host="litellm"), door)
    assert status == 200 and b"homelab_usage_store_ok" in answer
    before = len(gateway.litellm_requests())
    for target in METRICS_SPELLINGS:
        status, _, answer = raw(gateway, http("GET", target, key, host="litellm"), door)
        assert status in (400, 404) and b"homelab_" not in answer, (target, status, answer[:200])
    for method in ("POST", "PUT", "HEAD", "OPTIONS"):
        status, _, _ = raw(gateway, http(method, "/door-metrics", key, host="litellm"), door)
        assert status in (404, 405), (method, status)
    twice = http("GET", "/door-metrics", key, host="litellm", headers=[f"Authorization: Bearer {key}"])
    assert raw(gateway, twice, door)[0] == 400  # the header once, or not at all
    assert gateway.litellm_requests()[before:] == [], "a metrics-key request reached LiteLLM"
    for target in ("/door-metrics", "/v1/../door-metrics", "/v1/models/../../door-metrics", "/door-metrics/"):
        status, _, answer = raw(gateway, http("GET", target, gateway.tokens()["pixel"]))
        assert status == 404 and b"homelab_" not in answer, (target, status)


def door_series(gateway) -> dict[tuple[str, frozenset], float]:
    """The door's metrics as Prometheus reads them: (sample name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = gateway.call_litellm("/door-metrics", gateway.litellm_key("metrics")).text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_door_counts_each_request_by_tenant_model_and_status_with_its_durations(gateway):
    """What LiteLLM's Prometheus callback counted, the door counts itself: requests per tenant,
    route, model and status, how long they took, a stream's first token; a refusal before
    the body names a served model is counted without one."""
    chat_route = {("route", "/v1/chat/completions")}

    def count(name, **labels):
        wanted = {*chat_route, *labels.items()}
        return sum(v for (n, found), v in door_series(gateway).items() if n == name and wanted <= found)

    before = {"ok": count("homelab_door_requests_total", tenant="ipad", model="gpt2", status="200"),
              "bad": count("homelab_door_requests_total", tenant="ipad", model="", status="400"),
              "took": count("homelab_door_request_seconds_count", model="gpt2"),
              "first": sum(v for (n, found), v in door_series(gateway).items()
                           if n == "homelab_door_first_token_seconds_count" and ("model", "gpt2") in found)}
    token = gateway.tokens()["ipad"]
    body = {"model": "gpt2", "messages": [{"role": "user", "content": "count me"}]}
    assert gateway.call("/v1/chat/completions", token, body).status_code == 200
    streamed = requests.post(gateway.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})
    assert streamed.status_code == 200 and "data: [DONE]" in streamed.text
    assert gateway.call("/v1/chat/completions", token, {**body, "bogus": 1}).status_code == 400
    # aiohttp's own refusal (a body over the door's limit, as Open WebUI could send one) keeps its status
    too_big = count("homelab_door_requests_total", tenant="open-webui", model="", status="413")
    big = {"model": "gpt2", "messages": [{"role": "user", "content": "x" * (
        gateway.cfg.gateway_body_limit_mb * 1024 * 1024 + 1024)}]}  # just over: the client has sent it all
    assert gateway.call_litellm("/v1/chat/completions", gateway.litellm_key("open-webui"), big).status_code == 413
    assert count("homelab_door_requests_total", tenant="open-webui", model="", status="413") == too_big + 1
    assert count("homelab_door_requests_total", tenant="ipad", model="gpt2", status="200") == before["ok"] + 2
    assert count("homelab_door_requests_total", tenant="ipad", model="", status="400") == before["bad"] + 1
    assert count("homelab_door_request_seconds_count", model="gpt2") == before["took"] + 2
    first = sum(v for (n, found), v in door_series(gateway).items()
                if n == "homelab_door_first_token_seconds_count" and ("model", "gpt2") in found)
    assert first == before["first"] + 1
    assert not [name for name, _ in door_series(gateway) if name.endswith("_created")], "one series per figure"


# -- Real clients keep working -----------------------------------------------------------------

def test_the_openai_sdk_gets_through(gateway):
    """The official SDK (openai 3.57, as a phone's or laptop's script uses it)."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.tokens()["macbook"], max_retries=0)
    assert {m.id for m in client.models.list()} >= {m.name for m in gateway.models}
    assert client.models.retrieve("gpt2").id == "gpt2"
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                "parameters": {"type": "object", "required": ["city"],
                                                               "properties": {"city": {"type": "string"}}},
                                                "strict": True}}]
    reply = client.chat.completions.create(
        model="mistral-7b-instruct", messages=[{"role": "system", "content": "Be brief."},
                                               {"role": "user", "content": "Weather in Bonn?"}],
        tools=tools, tool_choice="auto", parallel_tool_calls=False, seed=7, stop=["\n\n"], temperature=0.2,
        top_p=0.9, max_tokens=32, logprobs=True, top_logprobs=2, presence_penalty=0.1, frequency_penalty=0.1,
        logit_bias={"50256": -100}, n=1, user="owner")
    assert reply.choices[0].message.content == "Hello from the stand-in"
    # the answer handed back as the SDK returns it, with a tool call and its result
    assistant = reply.choices[0].message.model_dump(exclude_none=False)
    assistant["tool_calls"] = [{"id": "call_1", "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Bonn"}'}}]
    follow_up = client.chat.completions.create(model="mistral-7b-instruct", messages=[
        {"role": "user", "content": "Weather in Bonn?"}, assistant,
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}], tools=tools)
    assert follow_up.choices[0].message.content
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    structured = client.chat.completions.create(
        model="mistral-7b-instruct", messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}})
    assert structured.choices[0].message.content
    assert client.chat.completions.create(model="gpt2", messages=[{"role": "user", "content": "x"}],
                                          response_format={"type": "json_object"}).choices
    chunks = list(client.chat.completions.create(model="mistral-7b-instruct", stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "stream"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the stand-in"
    completion = client.completions.create(model="gpt2", prompt="Once upon", max_tokens=8, logprobs=2, echo=False,
                                           seed=3, stop="\n", temperature=0.5)
    assert completion.choices[0].text == "Hello from the stand-in"
    embedded = client.embeddings.create(model="all-minilm-l6-v2", input=["a lab", "at home"], encoding_format="float")
    assert len(embedded.data) == 2
    assert client.embeddings.create(model="all-minilm-l6-v2", input="the SDK's default encoding").data


# What Open WebUI 0.11.0 sends to LiteLLM (it calls LiteLLM directly, with its own key):
# its aiohttp session, routers/openai.py (models, chat: the UI's params flattened to the top,
# `metadata` popped, stream_options only when streaming), routers/tasks.py (titles and tags:
# max_completion_tokens, which it turns into max_tokens for a non-OpenAI URL) and
# retrieval/utils.py agenerate_openai_batch_embeddings (document search: input + model).
OPEN_WEBUI_REQUESTS = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", {"model": "mistral-7b-instruct", "stream": True,
                                      "stream_options": {"include_usage": True},
                                      "messages": [{"role": "system", "content": "You are helpful."},
                                                   {"role": "user", "content": "Hello"}]}),
    ("POST", "/v1/chat/completions", {"model": "mistral-7b-instruct", "stream": False, "temperature": 0.8,
                                      "top_p": 0.9, "max_tokens": 512, "seed": 42, "stop": ["</s>"], "top_k": 40,
                                      "min_p": 0.05, "frequency_penalty": 0.1, "presence_penalty": 0.1,
                                      "messages": [{"role": "user", "content": [
                                          {"type": "text", "text": "What is in the picture?"},
                                          {"type": "image_url", "image_url": {
                                              "url": "data:image/png;base64,iVBORw0KGgo="}}]}]}),
    ("POST", "/v1/chat/completions", {"model": "gpt2", "stream": False, "max_tokens": 1000,
                                      "messages": [{"role": "user", "content": "### Task:\nGenerate a title"}]}),
    ("POST", "/v1/embeddings", {"input": ["a chunk of a document", "another chunk"], "model": "all-minilm-l6-v2"}),
]


def test_what_open_webui_sends_gets_through(gateway):
    async def send_all():
        headers = {"Authorization": f"Bearer {gateway.litellm_key('open-webui')}"}
        async with aiohttp.ClientSession() as session:
            statuses = []
            for method, path, body in OPEN_WEBUI_REQUESTS:
                kwargs = {"json": body} if body is not None else {}
                async with session.request(method, gateway.litellm_url + path, headers=headers, **kwargs) as reply:
                    await reply.read()
                    statuses.append((path, reply.status))
            return statuses

    assert asyncio.run(send_all()) == [(path, 200) for _, path, _ in OPEN_WEBUI_REQUESTS]


def test_upstream_receives_what_the_client_asked_and_nothing_else(gateway):
    """What reaches the model server for a plain request: the API's parameters, not LiteLLM's
    or the client's extras (the engine's key, never the device's token)."""
    before = len(gateway.upstream_requests())
    answer = gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], {
        "model": "gpt2", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3})
    assert answer.status_code == 200
    (sent,) = gateway.upstream_requests()[before:]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"] == [{"role": "user", "content": "hi"}] and sent["body"]["temperature"] == 0.3
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert headers["host"] == f"{HOST_SIDE}:{UPSTREAM_PORT}"
    assert headers["authorization"] == f"Bearer {gateway.vllm_key}"
