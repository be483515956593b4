"""The API gateway for real (homelab/lab/gateway.py: Debian's Caddy on the GPU-node lab
host's address with the Caddyfile, tokens and keys the deploy wrote there, LiteLLM from
PyPI with the config.yaml and guard the deploy wrote, a STAND-IN for vLLM behind them).
Clients call from this machine (10.77.0.1, on the lab's allowlist) and from the lab's
outsider namespace (10.77.0.250, not on it)."""

import json
import subprocess
import time

import pytest
import requests
from click.testing import CliRunner

from homelab.lab.gateway import LITELLM_INNER_PORT, TLS_PORT, Deployed
from homelab.lab.network import OUTSIDER_NAME
from homelab.stack import gateway as gateway_stack
from homelab.stack import security
from tasks import cli
from tests.support import assert_converges, inventory_variant, run_deploy

pytestmark = pytest.mark.lab
def chat(model="mistral-7b-instruct", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def test_without_a_token_or_with_a_wrong_one_401(gateway):
    for token in (None, "not-a-device-token"):
        response = gateway.call("/v1/models", token)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_from_an_address_outside_the_allowlist_403(gateway):
    token = gateway.tokens()["pixel"]
    out = subprocess.run(["ip", "netns", "exec", f"hlab-{OUTSIDER_NAME}", "curl", "-s", "-w", "\n%{http_code}",
                          "-H", f"Authorization: Bearer {token}", f"{gateway.url}/v1/models"],
                         capture_output=True, text=True, timeout=30)
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "403" and json.loads(body)["error"]["code"] == "ip_not_allowed"


def test_models_with_a_device_token(gateway):
    response = gateway.call("/v1/models", gateway.tokens()["pixel"])
    assert response.status_code == 200
    assert {m["id"] for m in response.json()["data"]} >= {m.name for m in gateway.models}


def test_chat_completion_and_completion(gateway):
    token = gateway.tokens()["macbook"]
    response = gateway.call("/v1/chat/completions", token, chat())
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the stand-in"
    response = gateway.call("/v1/completions", token, {"model": "gpt2", "prompt": "Once"})
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"] == "Hello from the stand-in"
    # LiteLLM reached vLLM with vLLM's key, never with the device's token
    last = {k.lower(): v for k, v in gateway.upstream_requests()[-1]["headers"].items()}
    assert last["authorization"] == f"Bearer {gateway.vllm_key}"


def test_streamed_chat_arrives_before_the_upstream_finishes(gateway):
    started = time.monotonic()
    arrivals = []
    with gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], chat(stream=True), stream=True) as response:
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(b"data: {"):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 4
    # the stand-in waits a second after each chunk: unbuffered, the first arrives ~3 s before the last
    assert arrivals[-1] - arrivals[0] > 2.0, arrivals


def test_text_embedding(gateway):
    response = gateway.call("/v1/embeddings", gateway.tokens()["ipad"],
                            {"model": "all-minilm-l6-v2", "input": ["a lab", "at home"]})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2 and len(response.json()["data"][0]["embedding"]) == 8


def requests_by(gateway, device: str) -> float:
    """The door's request counters for one tenant (the device the gateway named), read as
    Prometheus reads them: with the metrics key."""
    total = 0.0
    metrics = requests.get(f"{gateway.litellm_url}/door-metrics", timeout=10,
                           headers={"Authorization": f"Bearer {gateway.litellm_key('metrics')}"})
    assert metrics.status_code == 200, metrics.text
    for line in metrics.text.splitlines():
        name = line.split("{", 1)[0]
        if not line.startswith("#") and f'tenant="{device}"' in line and name == "homelab_door_requests_total":
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_device_name_is_the_tenant_counted(gateway):
    before = requests_by(gateway, "pixel")
    assert gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], chat(model="gpt2")).status_code == 200
    assert requests_by(gateway, "pixel") > before


def test_a_device_cannot_claim_another_name(gateway):
    token = gateway.tokens()["ipad"]
    ipad, macbook = requests_by(gateway, "ipad"), requests_by(gateway, "macbook")
    response = requests.post(gateway.url + "/v1/chat/completions", json=chat(model="gpt2"), timeout=60,
                             headers={"Authorization": f"Bearer {token}", "X-Homelab-Device": "macbook"})
    assert response.status_code == 200
    assert requests_by(gateway, "ipad") > ipad and requests_by(gateway, "macbook") == macbook


def test_metrics_admin_and_health_are_not_reachable_through_the_door(gateway):
    token = gateway.tokens()["pixel"]
    for path in ("/metrics/", "/metrics", "/health", "/key/generate", "/user/info", "/v1/model/info", "/ui/", "/"):
        response = gateway.call(path, token)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_request_bodies_have_a_limit(gateway):
    big = "x" * ((gateway.cfg.gateway_body_limit_mb + 1) * 1024 * 1024)
    response = gateway.call("/v1/embeddings", gateway.tokens()["pixel"], {"model": "all-minilm-l6-v2", "input": big})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_rotated_token_refused_successor_accepted_after_the_next_deploy(gateway, lab):
    old = gateway.tokens()["pixel"]
    result = CliRunner().invoke(cli, ["keys", "rotate", "pixel", "--inventory", str(lab.inventory_file)])
    assert result.exit_code == 0, result.output
    assert old not in result.output
    run = run_deploy("gpu_node", lab.inventory_file, limit="gpu-node")  # the next deploy
    assert run.returncode == 0, run.explain()
    changed = run.changed_operations("gpu-node")
    assert "AI stack manifests | homelab-gateway.yaml" in changed, "the gateway pod must restart with the new token"
    assert any("homelab-secrets.yaml" in op for op in changed)
    gateway.reload()  # what k3s does with the changed manifests: the pod restarts with them
    new = gateway.tokens()["pixel"]
    assert new != old
    assert gateway.call("/v1/models", old).status_code == 401
    assert gateway.call("/v1/models", new).status_code == 200


def test_revoked_token_stops_working_after_the_next_deploy(gateway, lab):
    runner = CliRunner()
    token = gateway.tokens()["ipad"]
    assert runner.invoke(cli, ["keys", "revoke", "ipad", "--inventory", str(lab.inventory_file)]).exit_code == 0
    try:
        gateway.reload()  # no deploy yet: the gateway still holds what was deployed
        assert gateway.call("/v1/models", token).status_code == 200
        run = run_deploy("gpu_node", lab.inventory_file, limit="gpu-node")
        assert run.returncode == 0, run.explain()
        assert "AI stack manifests | homelab-gateway.yaml" in run.changed_operations("gpu-node"), \
            "the gateway pod must restart without the token (its env is read at start)"
        gateway.reload()
        assert "ipad" not in gateway.tokens()
        assert gateway.call("/v1/models", token).status_code == 401
        listing = runner.invoke(cli, ["keys", "list", "--inventory", str(lab.inventory_file)]).output
        assert "ipad" in listing and "revoked" in listing and token not in listing
    finally:
        assert runner.invoke(cli, ["keys", "create", "ipad", "--inventory", str(lab.inventory_file)]).exit_code == 0
        assert run_deploy("gpu_node", lab.inventory_file, limit="gpu-node").returncode == 0
        gateway.reload()
    assert gateway.call("/v1/models", gateway.tokens()["ipad"]).status_code == 200


def test_a_forged_device_header_without_a_token_is_refused(gateway):
    for token in (None, "not-a-device-token"):
        response = gateway.call("/v1/models", token, headers={"X-Homelab-Device": "pixel"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


BODIES = {"/v1/chat/completions": chat(model="gpt2"), "/v1/completions": {"model": "gpt2", "prompt": "hi"},
          "/v1/embeddings": {"model": "all-minilm-l6-v2", "input": "hi"}}


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize("extra", [
    {"api_base": "http://10.77.0.1:18181/v1", "api_key": "anything"},
    {"base_url": "http://127.0.0.1:9090"},
    {"api_key": "sk-somebody-elses"},
    {"api_version": "2024-01-01"},
    {"user_config": {"model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x",
                                                                             "api_base": "http://127.0.0.1:9090"}}]}},
    {"aws_bedrock_runtime_endpoint": "http://127.0.0.1:9090"},
], ids=["api_base", "base_url", "api_key", "api_version", "user_config", "aws_endpoint"])
def test_client_supplied_endpoints_and_credentials_are_refused(gateway, path, extra):
    """Refused by the door's positive model, which names the parameter."""
    before = len(gateway.upstream_requests())
    response = gateway.call(path, gateway.tokens()["pixel"], {**BODIES[path], **extra})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter" and error["param"] in extra, error
    assert len(gateway.upstream_requests()) == before, "the request must not reach any upstream"


# what LiteLLM would act on at a body's top level, as names inside a tool's parameters and an
# answer's schema, where the API lets a client name anything
PROPERTIES = {name: {"type": "string"} for name in ("timeout", "api_key", "api_base", "callbacks", "fallbacks",
                                                     "num_retries", "success_callback", "litellm_params")}


@pytest.mark.parametrize("part", ["tools", "response_format"])
def test_tools_and_answer_schemas_may_name_their_properties_as_they_like(gateway, part):
    """A property named like one of LiteLLM's settings is the client's business: the request
    goes through to the engine (a pattern over the body text at Caddy refused these)."""
    schema = {"type": "object", "properties": PROPERTIES, "required": ["timeout"]}
    extra = ({"tools": [{"type": "function", "function": {"name": "set_timer", "parameters": schema}}]}
             if part == "tools" else
             {"response_format": {"type": "json_schema", "json_schema": {"name": "settings", "schema": schema}}})
    before = len(gateway.upstream_requests())
    response = gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], {**chat(model="gpt2"), **extra})
    assert response.status_code == 200, response.text
    sent = gateway.upstream_requests()[before:]
    assert len(sent) == 1, sent
    body = sent[0]["body"]
    arrived = (body["tools"][0]["function"]["parameters"] if part == "tools"
               else body["response_format"]["json_schema"]["schema"])
    assert arrived["properties"] == PROPERTIES, body


def test_an_escaped_endpoint_key_is_refused_by_the_door(gateway):
    """JSON escapes spell a key differently; the door parses the JSON and refuses it by name."""
    token = gateway.tokens()["pixel"]
    body = '{"model": "gpt2", "messages": [{"role": "user", "content": "hi"}], ' \
           '"api\\u005fbase": "http://10.77.0.1:18181/v1", "api\\u005fkey": "x"}'
    before = len(gateway.upstream_requests())
    response = requests.post(gateway.url + "/v1/chat/completions", data=body, timeout=60,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "api_base" in response.json()["error"]["message"]
    assert len(gateway.upstream_requests()) == before


def test_an_engine_that_fails_shows_no_traceback_to_the_client(gateway):
    """The guard in LiteLLM's ConfigMap keeps Python tracebacks out of error replies,
    answered and streamed (LiteLLM would put one into a streamed error)."""
    token = gateway.tokens()["pixel"]
    answered = gateway.call("/v1/chat/completions", token, chat(model="gpt2", messages=[
        {"role": "user", "content": "homelab-test: fail"}]))
    assert answered.status_code >= 400
    # another model: LiteLLM's router may cool a deployment down after a server error
    streamed = gateway.call("/v1/chat/completions", token, chat(model="mistral-7b-instruct", stream=True, messages=[
        {"role": "user", "content": "homelab-test: break the stream"}]))
    for reply in (answered.text, streamed.text):
        assert reply and "Traceback" not in reply and 'File "' not in reply, reply
    # the gateway's plain error for a server error; the guard's for a stream that broke
    assert answered.status_code == 502 and answered.json()["error"]["code"] == "upstream_error"
    # LiteLLM reports a broken stream as an error chunk (after its own mid-stream fallback,
    # sometimes it just ends the stream): when it does, the text is the guard's
    for line in streamed.text.splitlines():
        if line.startswith('data: {"error"'):
            assert "stopped answering in the middle of the reply" in json.loads(line[6:])["error"]["message"]


def test_bodies_that_are_not_json_are_refused(gateway):
    response = requests.post(gateway.url + "/v1/chat/completions", data={"model": "gpt2", "api_base": "http://x"},
                             headers={"Authorization": f"Bearer {gateway.tokens()['pixel']}"}, timeout=30)
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"


def test_litellms_internal_headers_do_not_leave_the_gateway(gateway):
    response = gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], chat(model="gpt2"))
    assert response.status_code == 200
    leaked = [h for h in response.headers if h.lower().startswith(("x-litellm-", "llm_provider-", "x-ratelimit-"))]
    assert leaked == []
    # LiteLLM itself sends them (asked on its pod's loopback, past the door): the gateway and the
    # door are what remove them
    direct = requests.post(f"http://127.0.0.1:{LITELLM_INNER_PORT}/v1/chat/completions", json=chat(model="gpt2"),
                           timeout=60,
                           headers={"Authorization": f"Bearer {gateway.litellm_key('gateway')}",
                                    "X-Homelab-Device": "pixel"})
    assert any(h.lower().startswith("x-litellm-") for h in direct.headers)


def test_caddy_metrics_only_for_pods_and_nodes(gateway):
    port = gateway.cfg.gateway_metrics_port
    gateway.call("/v1/models", gateway.tokens()["pixel"])
    # from the node itself (its own address), as a pod on another node would arrive
    inside = subprocess.run(["ip", "netns", "exec", gateway.node.netns, "curl", "-s", "-w", "\n%{http_code}",
                             f"http://{gateway.address}:{port}/metrics"], capture_output=True, text=True, timeout=30)
    body, status = inside.stdout.rsplit("\n", 1)
    assert status == "200" and "caddy_http_requests_total" in body
    # from anywhere else on the LAN
    assert requests.get(f"http://{gateway.address}:{port}/metrics", timeout=10).status_code == 403


def test_https_with_caddys_internal_ca_and_its_root_on_the_control_machine(gateway, lab, tmp_path):
    ports = {"gateway_tls": True, "gateway_port": TLS_PORT, "open_webui_port": TLS_PORT + 1,
             "gateway_metrics_port": TLS_PORT + 2}
    variant = inventory_variant(lab, tmp_path, {"gpu-node": ports})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        deployed = Deployed(lab)
        assert deployed.caddyfile.startswith("# Managed") and "tls internal" in deployed.caddyfile
        gateway.start_caddy("caddy-tls", deployed=deployed, port=TLS_PORT)
        # Caddy (as its pod: the unprivileged user) keeps its CA in the node's data directory
        root = gateway.node.root / gateway_stack.ROOT_CERT.lstrip("/")
        deadline = time.monotonic() + 30
        while not root.exists():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert root.stat().st_uid == security.POD_UID
        while True:  # the CA comes first, then the certificate it signs for the gateway
            try:
                response = requests.get(f"https://{gateway.address}:{TLS_PORT}/v1/models", verify=str(root),
                                        timeout=30, headers={"Authorization": f"Bearer {gateway.tokens()['pixel']}"})
                break
            except requests.exceptions.SSLError:
                assert time.monotonic() < deadline + 30
                time.sleep(0.5)
        assert response.status_code == 200
        # the deploy fetches the root (never the leaf) from there
        fetched = lab.state_dir / "build" / "gpu-node" / "gateway-root-ca.crt"
        fetched.unlink(missing_ok=True)
        assert_converges("gpu_node", variant, limit="gpu-node")
        assert fetched.read_bytes() == root.read_bytes() and b"BEGIN CERTIFICATE" in fetched.read_bytes()
    finally:
        gateway.stop("caddy-tls")
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")


def test_open_webui_behind_the_same_allowlist(gateway):
    url = f"http://{gateway.address}:{gateway.cfg.open_webui_port}/"
    assert "stand-in" in requests.get(url, timeout=30).text  # reached the upstream playing Open WebUI
    out = subprocess.run(["ip", "netns", "exec", f"hlab-{OUTSIDER_NAME}", "curl", "-s", "-o", "/dev/null", "-w",
                          "%{http_code}", url], capture_output=True, text=True, timeout=30)
    assert out.stdout == "403"
