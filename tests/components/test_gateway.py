"""The API gateway for real: Debian's Caddy with exactly the Caddyfile the deploy renders,
LiteLLM from PyPI with exactly the config.yaml the deploy renders, and a STAND-IN for
vLLM (tests/stand_ins/openai_upstream.py) behind them. Clients call from this machine
(10.77.0.1, on the lab's allowlist) and from the lab's outsider namespace (10.77.0.250,
not on it)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from homelab.devices import active_tokens, api_devices, token_env
from homelab.lab.network import HOST_SIDE, OUTSIDER_NAME
from homelab.secrets import SecretsStore
from homelab.stack import gateway as gateway_stack
from homelab.stack.litellm import litellm_config
from homelab.validation import load_inventory, settings_for
from tasks import cli
from tests.support import PROJECT_ROOT, assert_converges, inventory_variant, run_deploy

pytestmark = pytest.mark.lab
UPSTREAM_PORT, LITELLM_PORT, TLS_PORT = 18181, 18182, 18443
VLLM_KEY = "stand-in-vllm-key"
CADDY = shutil.which("caddy")


def wait_for(url: str, timeout: float = 180, **kwargs) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2, **kwargs).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.5)


class Gateway:
    """Caddy + LiteLLM + the vLLM stand-in, as the cluster runs them."""

    def __init__(self, lab, work: Path):
        self.lab, self.work = lab, work
        self.inventory = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
        self.cfg = settings_for(self.inventory.get_host("gpu-node"))
        self.store = SecretsStore(lab.secrets_file)
        self.models = [m for m in self.cfg.models if m.enabled]
        self.url = f"http://{HOST_SIDE}:{self.cfg.gateway_port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def _start(self, name, cmd, env=None):
        log = open(self.work / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                                cwd=self.work)

    def start(self):
        self._start("upstream", [sys.executable, str(PROJECT_ROOT / "tests/stand_ins/openai_upstream.py"),
                                 str(UPSTREAM_PORT), VLLM_KEY, *(m.name for m in self.models)])
        config = litellm_config(self.models, f"http://127.0.0.1:{UPSTREAM_PORT}/v1")
        (self.work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self._start("litellm", [str(Path(sys.executable).with_name("litellm")), "--config", "config.yaml",
                                "--host", "127.0.0.1", "--port", str(LITELLM_PORT)],
                    {"LITELLM_MASTER_KEY": self.master_key, "VLLM_API_KEY": VLLM_KEY})
        wait_for(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness")
        self.start_caddy()

    @property
    def master_key(self) -> str:
        return self.store.get("litellm_master_key").reveal()

    def tokens(self) -> dict[str, str]:
        return active_tokens(self.store, api_devices(self.inventory))

    def caddyfile(self, tls_names=None, port=None) -> str:
        return gateway_stack.caddyfile(sorted(self.tokens()), self.cfg.gateway_allowlist, f"127.0.0.1:{LITELLM_PORT}",
                                       port or self.cfg.gateway_port, tls_names, self.cfg.gateway_body_limit_mb,
                                       self.cfg.gateway_timeout_minutes)

    def caddy_env(self) -> dict:
        env = {token_env(device): token for device, token in self.tokens().items()}
        return {**env, "LITELLM_MASTER_KEY": self.master_key, "XDG_DATA_HOME": str(self.work / "caddy-data"),
                "XDG_CONFIG_HOME": str(self.work / "caddy-config")}

    def start_caddy(self, name="caddy", tls_names=None, port=None):
        """What the next deploy does to the cluster's gateway: new Caddyfile, new env, restart."""
        self.stop(name)
        path = self.work / f"{name}.Caddyfile"
        path.write_text(self.caddyfile(tls_names, port))
        self._start(name, [CADDY, "run", "--config", str(path), "--adapter", "caddyfile"], self.caddy_env())
        target_port = port or self.cfg.gateway_port
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex((HOST_SIDE, target_port)) != 0:
            assert time.monotonic() < deadline, (self.work / f"{name}.log").read_text()
            time.sleep(0.2)

    def stop(self, name):
        proc = self.processes.pop(name, None)
        if proc:
            proc.terminate()
            proc.wait(timeout=15)

    def stop_all(self):
        for name in list(self.processes):
            self.stop(name)

    def call(self, path, token=None, body=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is None:
            return requests.get(self.url + path, headers=headers, timeout=30, **kwargs)
        return requests.post(self.url + path, headers=headers, json=body, timeout=60, **kwargs)

    def upstream_requests(self):
        return requests.get(f"http://127.0.0.1:{UPSTREAM_PORT}/_requests", timeout=5).json()["requests"]


@pytest.fixture(scope="module")
def gateway(lab, tmp_path_factory):
    if not CADDY:
        pytest.skip("caddy is not installed (apt-get install caddy)")
    gw = Gateway(lab, tmp_path_factory.mktemp("gateway"))
    try:
        gw.start()
        yield gw
    finally:
        gw.stop_all()


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
    assert last["authorization"] == f"Bearer {VLLM_KEY}"


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


def test_the_device_name_reaches_litellm(gateway):
    gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], chat(model="gpt2"))
    metrics = requests.get(f"http://127.0.0.1:{LITELLM_PORT}/metrics/", timeout=10).text
    assert 'end_user="pixel"' in metrics


def test_a_device_cannot_claim_another_name(gateway):
    token = gateway.tokens()["ipad"]
    response = requests.post(gateway.url + "/v1/chat/completions", json=chat(model="gpt2"), timeout=60,
                             headers={"Authorization": f"Bearer {token}", "X-Homelab-Device": "macbook"})
    assert response.status_code == 200
    metrics = requests.get(f"http://127.0.0.1:{LITELLM_PORT}/metrics/", timeout=10).text
    assert 'end_user="ipad"' in metrics


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
    new = gateway.tokens()["pixel"]
    assert new != old and new not in result.output
    run = run_deploy("gpu_node", lab.inventory_file, limit="gpu-node")  # the next deploy
    assert run.returncode == 0, run.explain()
    changed = run.changed_operations("gpu-node")
    assert "AI stack manifests | homelab-gateway.yaml" in changed, "the gateway pod must restart with the new token"
    assert any("homelab-secrets.yaml" in op for op in changed)
    gateway.start_caddy()  # what k3s does with the changed manifests
    assert gateway.call("/v1/models", old).status_code == 401
    assert gateway.call("/v1/models", new).status_code == 200


def test_revoked_token_stops_working(gateway, lab):
    runner = CliRunner()
    token = gateway.tokens()["ipad"]
    assert runner.invoke(cli, ["keys", "revoke", "ipad", "--inventory", str(lab.inventory_file)]).exit_code == 0
    try:
        assert "ipad" not in gateway.tokens()
        gateway.start_caddy()
        assert gateway.call("/v1/models", token).status_code == 401
        listing = runner.invoke(cli, ["keys", "list", "--inventory", str(lab.inventory_file)]).output
        assert "ipad" in listing and "revoked" in listing and token not in listing
    finally:
        assert runner.invoke(cli, ["keys", "create", "ipad", "--inventory", str(lab.inventory_file)]).exit_code == 0
        gateway.start_caddy()
    assert gateway.call("/v1/models", gateway.tokens()["ipad"]).status_code == 200


def test_https_with_caddys_internal_ca_and_its_root_on_the_control_machine(gateway, lab, tmp_path):
    gateway.start_caddy("caddy-tls", tls_names=[HOST_SIDE], port=TLS_PORT)
    try:
        root = gateway.work / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 30
        while not root.exists():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        response = requests.get(f"https://{HOST_SIDE}:{TLS_PORT}/v1/models", verify=str(root), timeout=30,
                                headers={"Authorization": f"Bearer {gateway.tokens()['pixel']}"})
        assert response.status_code == 200
        # the cluster's Caddy keeps its CA in a hostPath: the deploy fetches the root (never the leaf)
        lab.ssh("gpu-node", f"mkdir -p {Path(gateway_stack.ROOT_CERT).parent}", sudo=True)
        subprocess.run([*lab.ssh_base(), f"owner@{lab.spec('gpu-node').address}",
                        f"sudo tee {gateway_stack.ROOT_CERT} >/dev/null"], input=root.read_bytes(), check=True)
        variant = inventory_variant(lab, tmp_path, {"gpu-node": {"gateway_tls": True}})
        assert_converges("gpu_node", variant, limit="gpu-node")
        fetched = lab.state_dir / "build" / "gpu-node" / "gateway-root-ca.crt"
        assert fetched.read_bytes() == root.read_bytes() and b"BEGIN CERTIFICATE" in fetched.read_bytes()
    finally:
        gateway.stop("caddy-tls")
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
