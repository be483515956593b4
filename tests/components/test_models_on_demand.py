"""Models on demand, on the lab: real Caddy and the door (with LiteLLM) on the deployed
config, homelab-waker deployed on the GPU-node lab host and running there under systemd.

Stand-ins, named as such: the engines are the stand-in k3s's Deployments (there is no
Kubernetes here; its kubectl scales them and they answer START_SECONDS after they start),
and one stand-in vLLM answers for every model behind LiteLLM. gpt2 is on demand with an
idle time of a few seconds (a data override), so the test sees it unload."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from homelab import waker
from homelab.inventory_loading import load_inventory
from homelab.lab.stand_ins import engine_deployments, stand_in_cluster
from tests.support import PROJECT_ROOT, assert_converges, catalogue, inventory_variant

pytestmark = pytest.mark.lab
MODEL, ENGINE = "gpt2", "vllm-gpt2-deployment-vllm"
IDLE_SECONDS, WAKE_TIMEOUT, START_SECONDS = 6, 5, 2
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


def kubectl(lab, *args: str) -> str:
    return lab.ssh("gpu-node", "k3s kubectl -n ai " + " ".join(args), sudo=True).stdout


def replicas(lab) -> int:
    return json.loads(kubectl(lab, "get", "deployment", ENGINE, "-o", "json"))["spec"]["replicas"]


def waker_state(lab) -> dict:
    text = lab.ssh("gpu-node", f"curl -sf -H \"Authorization: Bearer $(cat {waker.TOKEN_FILE})\" "
                               f"http://{lab.spec('gpu-node').address}:8099/state", sudo=True).stdout
    return json.loads(text)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.3)


def starts_logged(lab, since: float) -> int:
    log = lab.ssh("gpu-node", f"journalctl -u homelab-waker --since @{int(since)} -o cat", sudo=True).stdout
    return log.count(f"{MODEL}: scaling {ENGINE} up")


def unload(lab) -> None:
    kubectl(lab, "scale", "deployment", ENGINE, "--replicas=0")
    wait_until(lambda: waker_state(lab)[MODEL]["state"] == "unloaded", 10, "the waker sees gpt2 unloaded")


@pytest.fixture(scope="module")
def on_demand(lab, converged_gpu_node, gateway, tmp_path_factory):
    """gpt2 on demand with a short idle time; the other models always loaded."""
    models = [m if m["name"] == MODEL else {k: v for k, v in m.items() if k != "idle_minutes"}
              for m in catalogue(idle_minutes=IDLE_SECONDS / 60)]
    variant = inventory_variant(lab, tmp_path_factory.mktemp("on-demand"), {"gpu-node": {
        "models": models, "wake_timeout_seconds": WAKE_TIMEOUT, "waker_check_seconds": 1}})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        engines = engine_deployments(load_inventory(variant, cwd=PROJECT_ROOT))
        lab.seed_stand_in_cluster(stand_in_cluster(engines, "ai", START_SECONDS, 1))
        lab.ssh("gpu-node", "systemctl restart homelab-waker", sudo=True)
        gateway.reload(litellm=True)
        yield variant
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
        lab.ssh("gpu-node", "systemctl restart homelab-waker", sudo=True)
        gateway.reload(litellm=True)


def test_a_request_for_an_unloaded_model_is_held_and_served(lab, on_demand, gateway):
    unload(lab)
    token = gateway.tokens()["pixel"]
    asked = time.monotonic()
    response = gateway.call("/v1/chat/completions", token, CHAT)
    took = time.monotonic() - asked
    assert response.status_code == 200, response.text
    assert took >= START_SECONDS - 0.2, "answered before the engine could have started"
    assert replicas(lab) == 1 and waker_state(lab)[MODEL]["state"] == "loaded"
    print(f"wake to answer (stand-in engine starting in {START_SECONDS} s): {took:.1f} s")
    # loaded: the next request is not held
    asked = time.monotonic()
    assert gateway.call("/v1/chat/completions", token, CHAT).status_code == 200
    assert time.monotonic() - asked < 1.5


def test_open_webui_wakes_a_model_the_same_way(lab, on_demand, gateway):
    """Open WebUI reaches LiteLLM without the gateway, through the same door."""
    unload(lab)
    answer = gateway.call_litellm("/v1/chat/completions", gateway.litellm_key("open-webui"), CHAT)
    assert answer.status_code == 200, answer.text
    assert replicas(lab) == 1 and waker_state(lab)[MODEL]["state"] == "loaded"


def test_five_concurrent_requests_cause_one_start(lab, on_demand, gateway):
    unload(lab)
    since = time.time() - 1
    token = gateway.tokens()["pixel"]
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: gateway.call("/v1/chat/completions", token, CHAT), range(5)))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert starts_logged(lab, since) == 1


def test_a_start_longer_than_the_wake_timeout_gets_503_with_retry_after(lab, on_demand, gateway):
    unload(lab)
    engines = engine_deployments(load_inventory(on_demand, cwd=PROJECT_ROOT))
    slow = stand_in_cluster(engines, "ai", START_SECONDS, 1)
    slow[f"ai/{ENGINE}"].update(start_seconds=WAKE_TIMEOUT + 4, replicas=0)
    lab.seed_stand_in_cluster(slow)
    try:
        asked = time.monotonic()
        response = gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], CHAT)
        took = time.monotonic() - asked
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "model_starting" and MODEL in error["message"]
        assert int(response.headers["Retry-After"]) > 0
        assert "X-Homelab-Door-Refusal" not in response.headers
        assert WAKE_TIMEOUT - 0.5 <= took < WAKE_TIMEOUT + 5
        # the start goes on: a little later the same request is served
        wait_until(lambda: waker_state(lab)[MODEL]["state"] == "loaded", 15, "gpt2 loaded after all")
        assert gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], CHAT).status_code == 200
    finally:
        lab.seed_stand_in_cluster(stand_in_cluster(engines, "ai", START_SECONDS, 1))


def test_idle_time_unloads_and_a_running_stream_prevents_it(lab, on_demand, gateway):
    token = gateway.tokens()["pixel"]
    assert gateway.call("/v1/chat/completions", token, CHAT).status_code == 200
    assert replicas(lab) == 1
    # a stream of ~12 s, twice the idle time: the engine stays while it runs
    done = threading.Event()

    def stream() -> None:
        body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "homelab-test: a long stream"}]}
        answer = gateway.call("/v1/chat/completions", token, body)
        assert answer.status_code == 200 and "[DONE]" in answer.text
        done.set()

    runner = threading.Thread(target=stream)
    runner.start()
    time.sleep(0.5)
    while not done.is_set():
        assert replicas(lab) == 1, "unloaded under a running stream"
        time.sleep(1)
    runner.join()
    ended = time.monotonic()
    wait_until(lambda: replicas(lab) == 0, IDLE_SECONDS + 5, "gpt2 unloaded once idle")
    assert time.monotonic() - ended >= IDLE_SECONDS - 2.5, "unloaded before its idle time"
    assert waker_state(lab)[MODEL]["state"] == "unloaded"


def test_paused_means_nothing_wakes(lab, on_demand, gateway):
    """Game mode wins: while paused the door (Open WebUI's way in) gets gpu_paused and the
    engine stays at zero; resume brings back what was loaded before the pause only."""
    unload(lab)
    lab.ssh("gpu-node", "homelab-gpu pause --by test", sudo=True, timeout=120)
    try:
        answer = gateway.call_litellm("/v1/chat/completions", gateway.litellm_key("open-webui"), CHAT)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "gpu_paused"
        time.sleep(2)
        assert replicas(lab) == 0
    finally:
        resumed = lab.ssh("gpu-node", "homelab-gpu resume --by test", sudo=True, timeout=120)
    assert MODEL not in resumed.stdout, "unloaded before the pause: not brought back"
    assert replicas(lab) == 0
    status = lab.ssh("gpu-node", "homelab-gpu status", sudo=True).stdout
    assert f"{MODEL}" in status and "on demand: unloaded since" in status
    # and the next request wakes it as usual
    assert gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], CHAT).status_code == 200


def test_the_phones_lab_health_widget_says_which_models_are_warm(lab, on_demand, gateway, converged_pixel):
    """The widget the deploy put on the phone, through the gateway: each model warm or cold
    (the door adds the waker's state to /v1/models), and paused while a game has the GPU."""
    health = "/data/data/com.termux/files/home/.shortcuts/lab-health"
    unload(lab)
    cold = lab.ssh("pixel", health).stdout
    assert "  gpt2: cold since " in cold and ", wakes when asked" in cold, cold
    assert "  all-minilm-l6-v2: warm\n" in cold + "\n" and "3 of 4 models warm" in cold, cold
    assert gateway.call("/v1/chat/completions", gateway.tokens()["pixel"], CHAT).status_code == 200
    warm = lab.ssh("pixel", health).stdout
    assert "  gpt2: warm since " in warm and "4 of 4 models warm" in warm, warm
    listing = gateway.call("/v1/models", gateway.tokens()["pixel"]).json()["data"]
    assert {m["id"]: m["homelab_state"] for m in listing}[MODEL] == "loaded"
    lab.ssh("gpu-node", "homelab-gpu pause --by test", sudo=True, timeout=120)
    try:
        paused = lab.ssh("pixel", health, check=False)
        assert paused.stdout.strip() == "lab PAUSED: the GPU is lent to a game" and paused.returncode == 1
    finally:
        lab.ssh("gpu-node", "homelab-gpu resume --by test", sudo=True, timeout=120)


def test_the_waker_answers_its_token_and_a_model_name_only(lab, on_demand):
    address = f"http://{lab.spec('gpu-node').address}:8099"
    token = f"$(cat {waker.TOKEN_FILE})"

    def post(path: str, body: str, auth: str = f"Bearer {token}") -> str:
        return lab.ssh("gpu-node", f"curl -s -o /dev/null -w '%{{http_code}}' -X POST -H \"Authorization: {auth}\" "
                                   f"-H 'Content-Type: application/json' --data '{body}' {address}{path}",
                       sudo=True).stdout

    assert post("/wake", '{"model": "gpt2"}') == "200"
    refused = {
        "no token": post("/wake", '{"model": "gpt2"}', auth=""),
        "another token": post("/wake", '{"model": "gpt2"}', auth="Bearer " + "x" * 43),
        "an always-loaded model": post("/wake", '{"model": "all-minilm-l6-v2"}'),
        "a deployment name": post("/wake", '{"model": "vllm-gpt2-deployment-vllm"}'),
        "more keys": post("/wake", '{"model": "gpt2", "replicas": 4}'),
        "another path": post("/scale", '{"model": "gpt2"}'),
        "not JSON": post("/wake", "model=gpt2"),
    }
    assert set(refused.values()) <= {"401", "404"}, refused
    assert refused["no token"] == "401" and refused["another token"] == "401"


def test_asking_for_a_loaded_model_costs_next_to_nothing(lab, on_demand):
    """The door asks on every request for a model on demand: a loaded one must answer at
    once (an answer written in two pieces once waited 40 ms for a delayed ACK each time)."""
    kubectl(lab, "scale", "deployment", ENGINE, "--replicas=1")
    wait_until(lambda: waker_state(lab)[MODEL]["state"] == "loaded", 30, "gpt2 loaded")
    token = lab.ssh("gpu-node", f"cat {waker.TOKEN_FILE}", sudo=True).stdout.strip()
    session = requests.Session()
    url = f"http://{lab.spec('gpu-node').address}:8099/wake"
    times = []
    for _ in range(30):
        started = time.perf_counter()
        answer = session.post(url, json={"model": MODEL}, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        times.append(time.perf_counter() - started)
        assert answer.json() == {"state": "loaded"}
    times.sort()
    print(f"/wake for a loaded model: p50 {times[15] * 1000:.1f} ms")
    assert times[15] < 0.015, times
