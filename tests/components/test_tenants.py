"""Each device a tenant (files/litellm/homelab_tenants.py, in the door in LiteLLM's pod): its
limits hit at exactly the configured numbers, for two devices at once, through the real
gateway (homelab/lab/gateway.py: Caddy, the door and LiteLLM from what the deploy wrote
on the GPU-node lab host, a STAND-IN for vLLM whose every answer uses 9 tokens). Quotas
live in the usage store on the node's disk, so they survive a restart; the month rolls
over on a clock the test controls (homelab/lab/servers/clock.py, the door's process only)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from click.testing import CliRunner

from homelab.stack import litellm as litellm_stack
from tasks import cli
from tests.support import assert_converges, inventory_variant

pytestmark = pytest.mark.lab

UNLIMITED = {"api_requests_per_minute": None, "api_tokens_per_minute": None, "api_concurrent_requests": None,
             "api_tokens_per_day": None, "api_tokens_per_month": None}
LIMITS = {
    "pixel": {**UNLIMITED, "api_requests_per_minute": 3, "api_concurrent_requests": 1},
    "@render/ipad": {**UNLIMITED, "api_requests_per_minute": 5},
    "@local": UNLIMITED,
}
CHAT = {"model": "gpt2", "messages": [{"role": "user", "content": "hi"}]}


def forget_usage(gateway, lab) -> None:
    """An empty usage store (the door stopped first: it writes what it holds when it stops)."""
    gateway.stop("door")
    lab.ssh("gpu-node", f"rm -f {litellm_stack.USAGE_FILE}", sudo=True)


def deploy_with(gateway, lab, directory, limits: dict) -> None:
    variant = inventory_variant(lab, directory, limits)
    assert_converges("gpu_node", variant, limit="gpu-node", expect_changes=None)
    gateway.reload(litellm=True)


@pytest.fixture(scope="module")
def limited(gateway, lab, tmp_path_factory):
    """The lab deployed with small limits for two devices, none for the MacBook; the
    default deploy afterwards."""
    deploy_with(gateway, lab, tmp_path_factory.mktemp("limits"), LIMITS)
    yield gateway
    assert_converges("gpu_node", lab.inventory_file, limit="gpu-node", expect_changes=None)
    gateway.reload(litellm=True)


def usage_store(lab) -> dict:
    text = lab.ssh("gpu-node", f"cat {litellm_stack.USAGE_FILE} 2>/dev/null || echo '{{}}'", sudo=True).stdout
    return json.loads(text)


def test_the_limits_landed_in_the_doors_configuration(limited):
    door = json.loads(limited.deployed.litellm_files["door.json"])
    assert door["tenants"]["pixel"]["limits"]["requests_per_minute"] == 3
    assert door["tenants"]["ipad"]["limits"]["requests_per_minute"] == 5
    assert door["tenants"]["macbook"]["limits"] == {"requests_per_minute": None, "tokens_per_minute": None,
                                                    "concurrent_requests": None, "tokens_per_day": None,
                                                    "tokens_per_month": None}
    # (the lab's inventory lifts every other limit: the other tests send many requests)
    assert door["tenants"]["open-webui"]["limits"]["requests_per_minute"] is None


def test_group_data_gives_each_kind_of_device_its_limits():
    """The project's own inventory.py, no host: phones and iPads get the group files' limits,
    the MacBook none of the quotas, Open WebUI its own."""
    from homelab.inventory_loading import load_inventory
    from homelab.usage import tenant_limits
    from tests.support import PROJECT_ROOT

    limits = tenant_limits(load_inventory(PROJECT_ROOT / "inventory.py", cwd=PROJECT_ROOT))
    assert limits["pixel"] == {"requests_per_minute": 20, "tokens_per_minute": 20000, "concurrent_requests": 2,
                               "tokens_per_day": 200000, "tokens_per_month": 2000000}
    assert limits["ipad"] == limits["pixel"]
    assert limits["macbook"]["tokens_per_day"] is None and limits["macbook"]["requests_per_minute"] == 60
    assert limits["open-webui"]["concurrent_requests"] == 4


def test_requests_per_minute_for_two_devices_at_once(limited):
    limited.start_litellm()  # fresh windows
    tokens = limited.tokens()
    seen: dict[str, list[int]] = {"pixel": [], "ipad": []}
    for _ in range(6):
        for device in ("pixel", "ipad"):
            answer = limited.call("/v1/chat/completions", tokens[device], CHAT)
            seen[device].append(answer.status_code)
            if answer.status_code == 429:
                error = answer.json()["error"]
                assert error["code"] == "rate_limit_exceeded" and error["param"] == "requests_per_minute"
                assert device in error["message"] and "resets in" in error["message"]
                assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert seen == {"pixel": [200, 200, 200, 429, 429, 429], "ipad": [200, 200, 200, 200, 200, 429]}


def test_no_limit_means_unlimited(limited):
    limited.start_litellm()
    token = limited.tokens()["macbook"]
    assert [limited.call("/v1/chat/completions", token, CHAT).status_code for _ in range(12)] == [200] * 12


def test_concurrent_requests(limited):
    limited.start_litellm()
    token = limited.tokens()["pixel"]
    streamed = {}

    def stream():
        with limited.call("/v1/chat/completions", token, {**CHAT, "stream": True}, stream=True) as answer:
            streamed["status"], streamed["text"] = answer.status_code, answer.text

    runner = threading.Thread(target=stream)
    runner.start()
    time.sleep(1.0)  # the stand-in's stream takes 4 s
    second = limited.call("/v1/chat/completions", token, CHAT)
    runner.join()
    assert streamed["status"] == 200
    assert second.status_code == 429 and second.json()["error"]["param"] == "concurrent_requests"
    # the client did not ask for the usage chunk the door asked for: it gets none
    assert '"usage"' not in streamed["text"] and "[DONE]" in streamed["text"]
    assert limited.call("/v1/chat/completions", token, CHAT).status_code == 200  # the first one has ended


def test_tokens_per_minute(limited, lab, tmp_path):
    deploy_with(limited, lab, tmp_path, {**LIMITS, "@local": {**UNLIMITED, "api_tokens_per_minute": 20}})
    token = limited.tokens()["macbook"]
    statuses = [limited.call("/v1/chat/completions", token, CHAT).status_code for _ in range(4)]
    # 9 tokens each: 0, 9, 18 are under 20; after the third, 27 are not
    assert statuses == [200, 200, 200, 429]
    answer = limited.call("/v1/chat/completions", token, CHAT)
    assert answer.json()["error"]["param"] == "tokens_per_minute" and int(answer.headers["Retry-After"]) >= 1


def test_a_spent_daily_quota_stays_spent_across_a_restart(limited, lab, tmp_path):
    """A day of its own (the door's clock on 2026-10-15): 40 tokens, then refused; LiteLLM
    and the door restart (a deploy, a crash, a reboot) and it is still spent."""
    deploy_with(limited, lab, tmp_path, {**LIMITS, "@local": {**UNLIMITED, "api_tokens_per_day": 40}})
    token = limited.tokens()["macbook"]
    forget_usage(limited, lab)
    limited.start_litellm(clock="2026-10-15 12:00:00")
    statuses = [limited.call("/v1/chat/completions", token, CHAT).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]  # 0, 9, 18, 27, 36 are under 40; 45 is not
    error = limited.call("/v1/chat/completions", token, CHAT).json()["error"]
    assert error["code"] == "insufficient_quota" and error["param"] == "tokens_per_day"
    assert "2026-10-16 00:00 UTC" in error["message"]
    time.sleep(2.5)  # the store is written every 2 s
    limited.start_litellm(clock="2026-10-15 12:01:00")
    again = limited.call("/v1/chat/completions", token, CHAT)
    assert again.status_code == 429 and again.json()["error"]["code"] == "insufficient_quota"
    assert usage_store(lab)["days"]["2026-10-15"]["macbook"]["gpt2"] == [5, 25, 20]


def test_the_month_rolls_over_and_the_quota_is_back(limited, lab, tmp_path):
    deploy_with(limited, lab, tmp_path, {**LIMITS, "@local": {**UNLIMITED, "api_tokens_per_month": 10}})
    token = limited.tokens()["macbook"]
    forget_usage(limited, lab)
    limited.start_litellm(clock="2026-09-30 23:59:30")
    statuses = [limited.call("/v1/chat/completions", token, CHAT).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    spent = limited.call("/v1/chat/completions", token, CHAT).json()["error"]
    assert spent["param"] == "tokens_per_month" and "2026-10-01 00:00 UTC" in spent["message"]
    time.sleep(2.5)
    limited.start_litellm(clock="2026-10-01 00:00:30")
    assert limited.call("/v1/chat/completions", token, CHAT).status_code == 200


def test_usage_shows_what_each_device_sent(limited, lab):
    limited.start_litellm()
    token = limited.tokens()["ipad"]
    runner = CliRunner()

    def today(output: str, device: str) -> list[str]:
        line = next(line for line in output.splitlines() if line.split()[:1] == [device])
        return line.split()

    before = runner.invoke(cli, ["usage", "--inventory", str(lab.inventory_file)])
    assert before.exit_code == 0, before.output
    sent = [limited.call("/v1/embeddings", token, {"model": "all-minilm-l6-v2", "input": "x"}).status_code
            for _ in range(2)]
    sent += [limited.call("/v1/chat/completions", token, CHAT).status_code for _ in range(2)]
    assert sent == [200] * 4
    time.sleep(2.5)
    after = runner.invoke(cli, ["usage", "--inventory", str(lab.inventory_file)])
    assert after.exit_code == 0, after.output
    was = today(before.output, "ipad") if "ipad" in before.output else ["ipad", "0", "0", "0"]
    now = today(after.output, "ipad")
    # today's requests, prompt and completion tokens: 2 embeddings (2 prompt tokens each) and
    # 2 chats (5 prompt, 4 completion each)
    assert [int(now[i]) - int(was[i]) for i in (1, 2, 3)] == [4, 2 * 2 + 2 * 5, 2 * 4]
    by_model = runner.invoke(cli, ["usage", "--by-model", "--inventory", str(lab.inventory_file)]).output
    assert "all-minilm-l6-v2" in by_model and "gpt2" in by_model


def test_the_usage_dashboard_reads_what_the_door_exports(limited, lab):
    """Grafana's "homelab: usage per device", as it landed, asks for metrics the door
    serves Prometheus (with Prometheus's key, the scrape job that landed)."""
    import re

    from tests.support import landed_manifests

    objects = landed_manifests(lab)["homelab-monitoring.yaml"][1]
    (board,) = [o for o in objects if o["kind"] == "ConfigMap" and "homelab-usage.json" in o.get("data", {})]
    exprs = [t["expr"] for p in json.loads(board["data"]["homelab-usage.json"])["panels"] for t in p["targets"]]
    assert limited.call("/v1/chat/completions", limited.tokens()["pixel"], CHAT).status_code == 200
    streamed = requests.post(limited.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=60,
                             headers={"Authorization": f"Bearer {limited.tokens()['pixel']}"})
    assert streamed.status_code == 200  # a stream: its first token is timed
    metrics = limited.call_litellm("/door-metrics", limited.litellm_key("metrics"))
    assert metrics.status_code == 200
    served = set(re.findall(r"^(homelab_\w+)[{ ]", metrics.text, re.M))
    asked = {name for expr in exprs for name in re.findall(r"homelab_\w+", expr)}
    assert asked - {"homelab_tenant_quota_tokens", "homelab_tenant_refused_total"} <= served, (asked, served)
    assert 'tenant="pixel"' in metrics.text and "homelab_usage_store_ok 1" in metrics.text
    # the key that opens /door-metrics is Prometheus's alone
    assert limited.call_litellm("/door-metrics", limited.litellm_key("open-webui")).status_code == 404


def test_a_tenants_token_window_keeps_its_sum_as_replies_come_and_go(monkeypatch):
    """tokens_per_minute is checked against a running sum (every request asks for it, and a
    busy minute holds thousands of replies): it must equal the sum of what is still inside
    the minute after each trim."""
    from tests.support import PROJECT_ROOT

    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "files" / "litellm"))
    from homelab_tenants import Window

    window = Window()
    for at, tokens in ((0.0, 5), (30.0, 7), (45.0, 11)):
        window.add_tokens(at, tokens)
    for now, inside in ((59.0, 23), (60.5, 18), (90.0, 11), (105.0, 0)):
        window.trim(now)
        assert window.tokens_used == sum(t for _, t in window.tokens) == inside, now
