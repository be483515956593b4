"""homelab's door in front of LiteLLM, in LiteLLM's own pod (shipped by homelab (pyinfra)).

LiteLLM acts on a request before any hook of its own can refuse it: it installs callbacks a
body names, reads logging endpoints and "os.environ/NAME" values out of it, and runs those
loggers even for a request its authentication or its pre-call hook turns away. So nothing
reaches LiteLLM before it has passed this door, which LiteLLM sits behind on the pod's
loopback:

- the caller is known by its own key (exactly one `Authorization: Bearer <key>`): the
  gateway (which also names the device), Open WebUI, or Prometheus (/door-metrics only);
- the path is exactly one of the caller's routes, without a query; the request headers are
  ones callers send, each once at most (a chunked body, whose trailer fields a parser could
  take for headers, is not among them: bodies declare their length);
- a body is JSON without duplicate keys, matches homelab_api.py's positive model of its
  endpoint, and names a model served on that endpoint;
- LiteLLM then receives the body as parsed and checked here (re-serialised: it never sees
  bytes the door did not read the same way), with the caller's key, the device and the
  content type: no other header.

Each tenant's limits are checked here too (homelab_tenants.py): over one, a 429 with
Retry-After. A stream is forwarded with `stream_options.include_usage` so the door learns
its tokens; the usage chunk reaches the client only if it asked for it.

A model on demand (door.json "waker") is woken first: the node's homelab-waker loads it and
the request is held meanwhile, up to the wake timeout; past it, or while the GPU is lent to
a game, a 503 (model_starting, gpu_paused) with Retry-After. While a stream for such a
model runs, the door tells the waker every few seconds that it is busy. GET /v1/models
says per model whether it is warm: `homelab_state` is "always_loaded", or the waker's
"loaded", "unloaded", "starting" (with `homelab_state_since`), or "unknown" when the
waker does not answer (the list itself never waits more than a second for it).

Refusals are OpenAI-style JSON errors. GET /healthz answers without a key (the kubelet's
probes): ok when LiteLLM's own liveliness answers. GET /door-metrics (Prometheus's key):
what each tenant used today and this month, its quotas, its refusals, and the requests it
passed per tenant, model and status with their durations and a stream's first token. The
door counts these itself, so LiteLLM runs no metrics callback of its own: its Prometheus
logger cost about 1 ms per request (measured with `tasks.py bench gateway`), most of it an
exception raised and caught on every reply while it looked for the virtual key's budget in
a database this lab does not have.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics, generate_latest
from prometheus_client import Counter as CounterMetric

import homelab_api
from homelab_tenants import OverLimit, Tenants, UsageStore, utc_now

CONFIG = json.loads(Path(__file__).with_name("door.json").read_text())
TENANTS: dict[str, dict[str, Any]] = CONFIG["tenants"]
MODELS: dict[str, str] = CONFIG["models"]  # served name -> "chat" | "completion" | "embedding"
CREDENTIALS = {"gateway": "HOMELAB_GATEWAY_KEY", "open-webui": "HOMELAB_OPEN_WEBUI_KEY",
               "metrics": "HOMELAB_METRICS_KEY"}
DEVICE_HEADER = "x-homelab-device"
METRICS_PATH = "/door-metrics"
# what the gateway, Open WebUI's HTTP client, Prometheus and the kubelet send (lower case)
HEADERS = {"host", "content-type", "content-length", "authorization", "accept",
           "accept-encoding", "user-agent", "connection", "x-forwarded-for", "x-forwarded-proto",
           "x-forwarded-host", "x-prometheus-scrape-timeout-seconds", DEVICE_HEADER}
# which served models each endpoint takes (gpt2 chats through its chat template)
ENDPOINT_MODELS = {"/v1/chat/completions": ("chat", "completion"), "/v1/completions": ("chat", "completion"),
                   "/v1/embeddings": ("embedding",)}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization"}
# LiteLLM's own answer headers name its version, the router's address, costs and limits
INTERNAL_HEADERS = ("x-litellm-", "llm_provider-", "x-ratelimit-", "location")

UPSTREAM = os.environ.get("HOMELAB_DOOR_UPSTREAM", "http://127.0.0.1:4001")
PORT = int(os.environ.get("HOMELAB_DOOR_PORT", "4000"))
TIMEOUT = float(os.environ.get("HOMELAB_DOOR_TIMEOUT_SECONDS", "900"))
MAX_BODY = int(os.environ.get("HOMELAB_DOOR_MAX_BODY_MB", "64")) * 1024 * 1024
USAGE_FILE = os.environ.get("HOMELAB_DOOR_USAGE_FILE")  # None: usage in memory only
SAVE_SECONDS = 2.0
REFUSED: Counter[tuple[str, str]] = Counter()  # (tenant, limit) -> requests refused over it
WAKER: dict[str, Any] | None = CONFIG.get("waker")  # None: every model always loaded
WAKER_TOKEN = os.environ.get("HOMELAB_WAKER_TOKEN", "")
IN_FLIGHT: Counter[str] = Counter()  # model on demand -> requests under way

# Label values are the door's own words only (a tenant of door.json, a served model, a route
# of homelab_api.py, a status): a client's string never becomes a series of its own.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated there; no *_created series
REGISTRY = CollectorRegistry(auto_describe=True)
# a chat reply takes milliseconds to minutes
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
REQUESTS = CounterMetric("homelab_door_requests", "Requests the door answered, per tenant, route, model and status",
                         ["tenant", "route", "model", "status"], registry=REGISTRY)
DURATION = Histogram("homelab_door_request_seconds", "From a request's arrival to its answer's end (answered 2xx)",
                     ["route", "model"], buckets=SECONDS, registry=REGISTRY)
FIRST_TOKEN = Histogram("homelab_door_first_token_seconds", "From a streamed request's arrival to its first event",
                        ["model"], buckets=SECONDS, registry=REGISTRY)


class Refusal(Exception):
    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 kind: str = "invalid_request_error", retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind
        self.retry_after = retry_after

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        if self.retry_after is not None:
            # a 503 of the door's own (the gateway passes these on; it hides other 5xx)
            headers.update({"Retry-After": str(self.retry_after), "X-Homelab-Door-Refusal": self.code})
        response = web.json_response(body, status=self.status, headers=headers)
        # whatever the refused request left on its connection (trailer fields after a chunked
        # body are parsed into the next request's headers) goes with the connection
        response.force_close()
        return response


def over_limit(tenant: str, error: OverLimit) -> web.Response:
    REFUSED[(tenant, error.limit)] += 1
    kind = "insufficient_quota" if error.quota else "rate_limit_exceeded"
    body = {"error": {"message": error.message, "type": kind, "param": error.limit, "code": kind}}
    return web.json_response(body, status=429, headers={"Retry-After": str(max(error.retry_after, 1))})


def caller_of(request: web.Request) -> str:
    values = request.headers.getall("Authorization", [])
    if len(values) != 1 or not values[0].startswith("Bearer "):
        raise Refusal(401, "Missing or invalid API key: send one 'Authorization: Bearer <key>' header.",
                      "invalid_api_key")
    presented = values[0].removeprefix("Bearer ").encode()
    for name, variable in CREDENTIALS.items():
        expected = os.environ.get(variable, "")
        if expected and hmac.compare_digest(presented, expected.encode()):
            return name
    raise Refusal(401, "Missing or invalid API key.", "invalid_api_key")


def tenant_of(caller: str, request: web.Request) -> str | None:
    named = request.headers.getall(DEVICE_HEADER, [])
    if caller != "gateway":
        if named:
            raise Refusal(400, "Only the gateway names devices.", "header_not_allowed", DEVICE_HEADER)
        return next((name for name, t in TENANTS.items() if t["credential"] == caller), None)
    if len(named) != 1 or TENANTS.get(named[0], {}).get("credential") != "gateway":
        raise Refusal(401, "The gateway's request names no known device.", "invalid_api_key")
    return named[0]


def check_headers(request: web.Request) -> None:
    names = [name.decode("latin-1").lower() for name, _ in request.raw_headers]
    unknown = sorted(set(names) - HEADERS)
    if unknown:
        raise Refusal(400, f"Request header {unknown[0]!r} is not accepted here.", "header_not_allowed", unknown[0])
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise Refusal(400, f"Request header {repeated[0]!r} is sent more than once.", "header_not_allowed",
                      repeated[0])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise Refusal(400, f"Key {repeated[:80]!r} appears more than once in an object of the body.",
                      "duplicate_key", repeated[:80])
    return found


def _no_constant(name: str) -> Any:
    raise Refusal(400, f"{name} is not a JSON number.", "invalid_json")


async def checked_body(request: web.Request, route: str) -> dict[str, Any]:
    if request.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
        raise Refusal(415, "Send the request body as JSON (Content-Type: application/json).",
                      "unsupported_media_type")
    raw = await request.read()
    try:
        # an object, or check_body below refuses it
        body: dict[str, Any] = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise Refusal(400, f"The body is not valid JSON, or nested too deeply ({error.__class__.__name__}).",
                      "invalid_json") from None
    try:
        homelab_api.check_body(route, body)
    except homelab_api.Refused as refused:
        raise Refusal(400, refused.message, refused.code, refused.param or None) from None
    if MODELS.get(body["model"]) not in ENDPOINT_MODELS[route]:
        served = ", ".join(sorted(m for m, kind in MODELS.items() if kind in ENDPOINT_MODELS[route]))
        raise Refusal(404, f"The model {body['model']!r} is not served on {route} here (served: {served}).",
                      "model_not_found", "model")
    return body


class Reply:
    """What the door learns of a request as its reply passes: the tokens it used, and for the
    metrics its model and when a stream's first event passed."""

    def __init__(self, show_usage: bool = True):
        self.usage: dict[str, Any] | None = None
        self.show_usage, self.pending = show_usage, b""
        self.model = ""  # the served model the body named, once checked_body has passed it
        self.first_event: float | None = None  # time.monotonic() when a stream's first event passed

    def read_answer(self, body: bytes) -> None:
        try:
            self.usage = (json.loads(body) or {}).get("usage")
        except (ValueError, AttributeError):
            pass

    def pass_stream(self, chunk: bytes) -> bytes:
        """Server-sent events, whole ones out; the usage chunk is read, and dropped when the
        client did not ask for it."""
        self.pending += chunk
        out = b""
        while b"\n\n" in self.pending:
            event, self.pending = self.pending.split(b"\n\n", 1)
            if event.startswith(b"data: {"):
                try:
                    data = json.loads(event[6:])
                except ValueError:
                    data = {}
                if isinstance(data, dict) and data.get("usage"):
                    self.usage = data["usage"]
                    if not self.show_usage:  # the client did not ask: its stream stays as it would be
                        if not data.get("choices"):
                            continue
                        del data["usage"]
                        event = b"data: " + json.dumps(data, separators=(",", ":")).encode()
            out += event + b"\n\n"
        if out and self.first_event is None:
            self.first_event = time.monotonic()
        return out


async def wake(request: web.Request, model: str) -> None:
    """Hold the request until the node's waker has `model` loaded; a Refusal when it is
    still starting after the wake timeout, or the GPU is lent to a game. A waker that does
    not answer is logged and the request goes on (the router says if no engine serves it)."""
    assert WAKER is not None
    session: ClientSession = request.app["session"]
    try:
        async with session.post(WAKER["url"] + "/wake", json={"model": model},
                                headers={"Authorization": f"Bearer {WAKER_TOKEN}"},
                                timeout=ClientTimeout(total=WAKER["timeout_seconds"])) as answer:
            found = await answer.json(content_type=None)
    except (ClientError, TimeoutError, ValueError) as error:
        print(f"homelab door: the waker did not answer ({error.__class__.__name__}): {model} asked as it is",
              flush=True)
        return
    state = found.get("state") if isinstance(found, dict) else None
    if state == "paused":
        raise Refusal(503, "The GPU is lent to a game right now, so the models are paused. Resume them with "
                      "'Resume AI' on the PC, the lab-resume widget on the owner's phone, or 'python tasks.py gpu "
                      "resume'.", "gpu_paused", kind="service_unavailable", retry_after=60)
    if state == "starting":
        retry = int(found.get("retry_after") or 30)
        raise Refusal(503, f"The model {model} is being loaded onto the GPU (it was unloaded while idle). Try "
                      f"again in {retry} s.", "model_starting", kind="service_unavailable", retry_after=retry)
    if state == "unloaded":  # the waker tried and could not start it
        raise Refusal(503, f"The model {model} could not be loaded right now; the lab's doctor says why.",
                      "model_unavailable", kind="service_unavailable", retry_after=60)


async def with_model_states(request: web.Request, answer: web.Response) -> web.Response:
    """The model list with each model's state added (an extra field, which OpenAI's clients
    keep or ignore): what the clients' lab-health widget shows."""
    try:
        listing = json.loads(answer.body)  # type: ignore[arg-type]
        models = listing["data"]
    except (ValueError, TypeError, KeyError):
        return answer
    states: dict[str, Any] = {}
    if WAKER is not None:
        session: ClientSession = request.app["session"]
        try:
            async with session.get(WAKER["url"] + "/state", headers={"Authorization": f"Bearer {WAKER_TOKEN}"},
                                   timeout=ClientTimeout(total=1)) as found:
                states = await found.json(content_type=None) if found.status == 200 else {}
        except (ClientError, TimeoutError, ValueError):
            states = {}
    for model in models:
        if not isinstance(model, dict):
            continue
        if WAKER is None or model.get("id") not in WAKER["models"]:
            model["homelab_state"] = "always_loaded"
            continue
        known = states.get(model["id"]) if isinstance(states, dict) else None
        model["homelab_state"] = str(known.get("state", "unknown")) if isinstance(known, dict) else "unknown"
        if isinstance(known, dict) and known.get("since"):
            model["homelab_state_since"] = str(known["since"])
    headers = {name: value for name, value in answer.headers.items() if name.lower() != "content-type"}
    return web.json_response(listing, status=200, headers=headers)


async def forward(request: web.Request, path: str, body: bytes | None, headers: dict[str, str],
                  reply: Reply | None = None) -> web.StreamResponse:
    session: ClientSession = request.app["session"]
    reply = reply or Reply()
    try:
        upstream = await session.request(request.method, UPSTREAM + path, data=body,
                                         headers={**headers, "Accept-Encoding": "identity"}, allow_redirects=False)
    except (ClientError, TimeoutError) as error:
        raise Refusal(502, f"The API behind the door did not answer ({error.__class__.__name__}).",
                      "upstream_error", kind="server_error") from None
    async with upstream:
        headers = {name: value for name, value in upstream.headers.items()
                   if name.lower() not in HOP_BY_HOP and not name.lower().startswith(INTERNAL_HEADERS)}
        if upstream.content_length is not None:  # an answer of known length: passed on as one
            answer = await upstream.read()
            reply.read_answer(answer)
            return web.Response(status=upstream.status, headers=headers, body=answer)
        response = web.StreamResponse(status=upstream.status, headers=headers)  # a stream: event by event
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            out = reply.pass_stream(chunk)
            if out:
                await response.write(out)
        if reply.pending:
            await response.write(reply.pending)
        await response.write_eof()
        return response


async def handle(request: web.Request) -> web.StreamResponse:
    raw_path = request.raw_path
    try:
        if raw_path == "/healthz" and request.method == "GET":
            return await health(request)
        check_headers(request)
        caller = caller_of(request)
        if request.query_string or "?" in raw_path:
            raise Refusal(404, "Unknown path: no query strings here.", "not_found")
        if caller == "metrics":
            if request.method != "GET" or raw_path != METRICS_PATH:
                raise Refusal(404, f"This key reads {METRICS_PATH} only.", "not_found")
            return door_metrics(request.app["tenants"])
        if not homelab_api.is_api_route(request.method, raw_path):
            raise Refusal(404, "Unknown path: this service answers the OpenAI API under /v1.", "not_found")
        if raw_path.startswith("/v1/models/") and raw_path.removeprefix("/v1/models/") not in MODELS:
            raise Refusal(404, "No such model here.", "model_not_found")
        tenant = tenant_of(caller, request)
        if tenant is None:
            raise Refusal(401, "This key names no tenant.", "invalid_api_key")
        return await counted(request, tenant, caller)
    except Refusal as refusal:
        print(f"homelab door: {refusal.status} {refusal.code} {request.method} {raw_path[:120]!r}", flush=True)
        return refusal.response()


async def counted(request: web.Request, tenant: str, caller: str) -> web.StreamResponse:
    """A tenant's request, answered and counted (homelab_door_* metrics)."""
    started, route = time.monotonic(), homelab_api.route_name(request.method, request.raw_path)
    reply = Reply()
    status = "500"
    try:
        answer = await answered(request, tenant, caller, reply)
        status = str(answer.status)
        return answer
    except Refusal as refusal:
        status = str(refusal.status)
        raise
    except web.HTTPException as error:  # aiohttp's own answers (a body over the limit: 413)
        status = str(error.status)
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        status = "499"  # the client hung up first (nginx's word for it)
        raise
    finally:
        REQUESTS.labels(tenant, route, reply.model, status).inc()
        if reply.model and status.startswith("2"):  # refusals and errors would skew the times
            DURATION.labels(route, reply.model).observe(time.monotonic() - started)
            if reply.first_event is not None:
                FIRST_TOKEN.labels(reply.model).observe(reply.first_event - started)


async def answered(request: web.Request, tenant: str, caller: str, reply: Reply) -> web.StreamResponse:
    """The tenant's request passed on to LiteLLM: its body checked, its limits, its model woken."""
    raw_path = request.raw_path
    headers = {"Authorization": request.headers["Authorization"]}
    if caller == "gateway":
        headers["X-Homelab-Device"] = tenant
    if request.method != "POST":
        answer = await forward(request, raw_path, None, headers)
        if raw_path == "/v1/models" and answer.status == 200 and isinstance(answer, web.Response):
            return await with_model_states(request, answer)
        return answer
    body = await checked_body(request, raw_path)
    reply.model = body["model"]  # one that is served: checked_body refuses any other
    headers["Content-Type"] = "application/json"
    if body.get("stream"):
        # the door counts a stream's tokens from its usage chunk: asked for, shown only if
        # the client asked too
        options = body.get("stream_options") or {}
        reply.show_usage = bool(options.get("include_usage"))
        body["stream_options"] = {**options, "include_usage": True}
    tenants: Tenants = request.app["tenants"]
    try:
        tenants.admit(tenant)
    except OverLimit as error:
        print(f"homelab door: 429 {error.limit} {tenant}", flush=True)
        return over_limit(tenant, error)
    on_demand = WAKER is not None and body["model"] in WAKER["models"]
    if on_demand:
        IN_FLIGHT[body["model"]] += 1
    try:
        try:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (ValueError, UnicodeError):
            raise Refusal(400, "The body holds text that is not valid Unicode.", "invalid_json") from None
        body = {"model": body["model"]}  # the parsed body's memory goes now, not after the reply
        if on_demand:
            await wake(request, body["model"])
        return await forward(request, raw_path, data, headers, reply)
    finally:
        tenants.done(tenant, body["model"], reply.usage)
        if on_demand:
            IN_FLIGHT[body["model"]] -= 1


async def health(request: web.Request) -> web.Response:
    session: ClientSession = request.app["session"]
    try:
        async with session.get(UPSTREAM + "/health/liveliness", timeout=ClientTimeout(total=5)) as upstream:
            ok = upstream.status == 200
    except (ClientError, TimeoutError):
        ok = False
    return web.json_response({"status": "ok" if ok else "litellm not answering"}, status=200 if ok else 503)


def door_metrics(tenants: Tenants) -> web.Response:
    """Prometheus's text format: tokens each tenant used today and this month (the usage
    store's figures, the ones quotas are checked against), its quotas, its refusals."""
    lines = ["# TYPE homelab_tenant_tokens gauge", "# TYPE homelab_tenant_requests gauge",
             "# TYPE homelab_tenant_quota_tokens gauge", "# TYPE homelab_tenant_refused_total counter",
             "# TYPE homelab_usage_store_ok gauge"]
    for period, key, fmt in (("day", "days", "%Y-%m-%d"), ("month", "months", "%Y-%m")):
        current = tenants.store.data[key].get(utc_now().strftime(fmt), {})
        for tenant in sorted(tenants.windows):
            for model, (requests, prompt, completion) in sorted(current.get(tenant, {}).items()):
                labels = f'tenant="{tenant}",model="{model}",period="{period}"'
                lines += [f'homelab_tenant_tokens{{{labels},kind="prompt"}} {prompt}',
                          f'homelab_tenant_tokens{{{labels},kind="completion"}} {completion}',
                          f"homelab_tenant_requests{{{labels}}} {requests}"]
            quota = tenants.limits[tenant].get(f"tokens_per_{period}")
            if quota is not None:
                lines.append(f'homelab_tenant_quota_tokens{{tenant="{tenant}",period="{period}"}} {quota}')
    for (tenant, limit), count in sorted(REFUSED.items()):
        lines.append(f'homelab_tenant_refused_total{{tenant="{tenant}",limit="{limit}"}} {count}')
    lines.append(f"homelab_usage_store_ok {int(tenants.store.healthy)}")
    return web.Response(text="\n".join(lines) + "\n" + generate_latest(REGISTRY).decode(), content_type="text/plain")


async def open_session(app: web.Application) -> Any:
    app["session"] = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False,
                                   timeout=ClientTimeout(total=None, connect=10, sock_read=TIMEOUT))
    app["tenants"] = Tenants(TENANTS, UsageStore(USAGE_FILE), fail_open=CONFIG.get("quota_store_failure") != "closed")

    async def save_regularly() -> None:
        while True:
            await asyncio.sleep(SAVE_SECONDS)
            app["tenants"].store.save()

    async def keep_busy() -> None:
        """A model with a request under way (a long stream) is not idle: say so to the waker."""
        assert WAKER is not None
        while True:
            await asyncio.sleep(WAKER["busy_seconds"])
            busy = sorted(model for model, count in IN_FLIGHT.items() if count > 0)
            if not busy:
                continue
            try:
                async with app["session"].post(WAKER["url"] + "/busy", json={"models": busy},
                                               headers={"Authorization": f"Bearer {WAKER_TOKEN}"},
                                               timeout=ClientTimeout(total=10)):
                    pass
            except (ClientError, TimeoutError) as error:
                print(f"homelab door: the waker did not take /busy ({error.__class__.__name__})", flush=True)

    saver = asyncio.create_task(save_regularly())
    busy = asyncio.create_task(keep_busy()) if WAKER else None
    yield
    saver.cancel()
    if busy:
        busy.cancel()
    app["tenants"].store.save()
    await app["session"].close()


def main() -> None:
    app = web.Application(client_max_size=MAX_BODY)
    app.cleanup_ctx.append(open_session)
    app.router.add_route("*", "/{tail:.*}", handle)
    # a client that hangs up ends its request here too (an unstreamed generation is not
    # left running for nobody)
    web.run_app(app, host=os.environ.get("HOMELAB_DOOR_HOST", "0.0.0.0"), port=PORT, access_log=None,
                handler_cancellation=True, print=lambda *args: print(*args, file=sys.stderr))


if __name__ == "__main__":
    main()
