"""The Le Potato keeps watch, on the lab: Debian's real Prometheus 2.42, Alertmanager 0.25
and blackbox exporter 0.23 on the potato host, deployed by deploys/le_potato.py, watch
the gateway (real Caddy on the Caddyfile the GPU-node deploy wrote) and the GPU node.

Stand-ins, named as such (homelab/lab/servers/watcher_stand_ins.py): an ntfy server on
this machine that records what Alertmanager publishes; the cluster's Prometheus behind
the gateway's /federate, answering what the test writes; and, on the GPU-node host,
Debian's node exporter in place of kube-prometheus-stack's DaemonSet (there is no k3s
here), reading the same textfile directory game mode and homelab-gpu-metrics write."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests

from homelab import gpu_mode, watcher
from homelab.doctor import host_checks
from homelab.inventory_loading import load_inventory
from homelab.lab.gateway import SERVERS, wait_for
from homelab.lab.network import HOST_SIDE
from homelab.secrets_store import SecretsStore
from tests.support import PROJECT_ROOT, assert_converges, assert_repairs, inventory_variant, run_deploy

pytestmark = pytest.mark.lab
HERE = Path(__file__).parent
NTFY_PORT = 18292
NTFY_TOKEN = "tk_labstandin0123456789abcdefgh"  # the stand-in's: it accepts any
SCRAPE_SECONDS, FOR_SECONDS, GROUP_WAIT_SECONDS = 2, 4, 1
# The alerts under test fire after FOR_SECONDS; the others keep the lab's quiet
# (its machine's disks may well be fuller than a real node's should be).
SLOW = "1h"
FAST_ALERTS = {"gateway_down", "gateway_door_open", "engine_down", "engine_held_while_paused"}
FAST = {
    "watcher_scrape_interval": f"{SCRAPE_SECONDS}s",
    "alert_after": {name: (f"{FOR_SECONDS}s" if name in FAST_ALERTS else SLOW) for name in (
        "gateway_down", "gateway_door_open", "engine_down", "engine_held_while_paused", "gpu_lost", "disk_filling",
        "model_cache_filling", "pc_unreachable", "watcher_read_only", "quota_spent", "apt_cache_down",
        "cluster_unseen")},
    "alert_group_wait": f"{GROUP_WAIT_SECONDS}s", "alert_group_interval": "1s",
}
# What the rule promises, plus the way there: a scrape and an evaluation to notice,
# the for: to hold, another evaluation to fire, Alertmanager's group wait, the webhook.
PROMISED_SECONDS = FOR_SECONDS + 3 * SCRAPE_SECONDS + GROUP_WAIT_SECONDS + 5
ENGINE = "vllm-gpt2-deployment-vllm"


def potato(lab, command: str, **kwargs) -> subprocess.CompletedProcess:
    return lab.ssh("potato", command, **kwargs)


def query(lab, promql: str) -> list[dict]:
    """An instant query against the watcher's Prometheus (on the board's loopback)."""
    text = potato(lab, f"curl -sf --get --data-urlencode {json.dumps('query=' + promql)} "
                       "http://127.0.0.1:9090/api/v1/query").stdout
    return json.loads(text)["data"]["result"]


def wait_until(condition, timeout: float, what: str, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)


class Ntfy:
    """The STAND-IN ntfy server's record of what Alertmanager published."""

    def __init__(self, url: str):
        self.url = url

    def published(self) -> list[dict]:
        return [r for r in requests.get(f"{self.url}/_requests", timeout=5).json()["requests"] if r["method"] == "POST"]

    def messages(self, alertname: str, status: str | None = None, since: float = 0) -> list[dict]:
        return [r for r in self.published() if r["at"] >= since and r.get("json")
                and r["json"]["groupLabels"].get("alertname") == alertname
                and (status is None or r["json"]["status"] == status)]


@pytest.fixture(scope="module")
def ntfy() -> Iterator[Ntfy]:
    proc = subprocess.Popen([sys.executable, str(SERVERS / "watcher_stand_ins.py"), "ntfy", HOST_SIDE, str(NTFY_PORT)])
    try:
        wait_for(f"http://{HOST_SIDE}:{NTFY_PORT}/_requests", 30)
        yield Ntfy(f"http://{HOST_SIDE}:{NTFY_PORT}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def gpu_node_exporter(lab, converged_gpu_node) -> Iterator[None]:
    """STAND-IN for kube-prometheus-stack's node exporter on the GPU node: Debian's, on
    the node's address and port 9100, reading the textfile directory the chart mounts."""
    args = (f"--web.listen-address={lab.spec('gpu-node').address}:9100 "
            f"--collector.textfile.directory={gpu_mode.METRICS_DIR}")
    lab.ssh("gpu-node", "DEBIAN_FRONTEND=noninteractive apt-get -o Dir::Etc::SourceParts=/nonexistent install -y -qq "
                        "prometheus-node-exporter >/dev/null && "
                        f"echo 'ARGS=\"{args}\"' > /etc/default/prometheus-node-exporter && "
                        "systemctl restart prometheus-node-exporter", sudo=True, timeout=300)
    try:
        yield
    finally:
        lab.ssh("gpu-node", "systemctl disable --now prometheus-node-exporter", sudo=True, check=False)


@pytest.fixture(scope="module")
def alerting(lab, converged_potato, converged_pixel, gateway, ntfy, gpu_node_exporter, tmp_path_factory):
    """The watcher with an ntfy topic (the stand-in) and short timings (a data override)."""
    store = SecretsStore(lab.secrets_file)
    store.set(watcher.NTFY_URL_SECRET, f"{ntfy.url}/homelab-alerts")
    store.set(watcher.NTFY_TOKEN_SECRET, NTFY_TOKEN)
    variant = inventory_variant(lab, tmp_path_factory.mktemp("watcher"), {"potato": FAST})
    try:
        assert_converges("le_potato", variant, limit="potato")
        # a quiet start: everything answers, nothing fires
        wait_until(lambda: query(lab, 'probe_success{job="gateway"} == 1') and query(lab, 'up{job="cluster"} == 1'),
                   60, "the watcher sees the gateway and the cluster's figures")
        wait_until(lambda: not query(lab, 'ALERTS{alertstate="firing"}'), 60, "nothing fires at the start")
        yield variant
    finally:
        store.delete(watcher.NTFY_URL_SECRET)
        store.delete(watcher.NTFY_TOKEN_SECRET)
        gateway.cluster_series("")
        assert_converges("le_potato", lab.inventory_file, limit="potato")


def test_landed_rules_pass_their_unit_tests_and_the_configs_check(lab, converged_potato):
    """promtool test rules (every rule: fires when it should, quiet when it must) on the
    rule file the deploy wrote; promtool and amtool check the landed configurations."""
    result = potato(lab, "cat > /tmp/homelab-rules.test.yml && promtool test rules /tmp/homelab-rules.test.yml",
                    check=False, input=(HERE / "watcher" / "homelab-rules.test.yml").read_text())
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    checked = potato(lab, f"promtool check config {watcher.PROMETHEUS_CONFIG} && "
                          f"amtool check-config {watcher.ALERTMANAGER_CONFIG}", sudo=True)
    assert "12 rules found" in checked.stdout and "SUCCESS" in checked.stdout


def test_listens_on_the_loopback_only_within_its_memory(lab, converged_potato):
    listening = potato(lab, "ss -ltnH", sudo=True).stdout
    for port in (9090, 9093, 9115):
        assert f"127.0.0.1:{port} " in listening and f"0.0.0.0:{port} " not in listening, listening
    assert ":9094 " not in listening, "no Alertmanager cluster port"
    assert potato(lab, "systemctl show prometheus -p MemoryMax --value").stdout.strip() == str(384 * 2**20)
    ps = potato(lab, "ps -o rss=,args= -u prometheus").stdout
    rss = {line.split()[1].rsplit("/", 1)[1]: int(line.split()[0]) // 1024 for line in ps.splitlines() if line.strip()}
    print(f"watcher RSS (MiB): {rss}")
    assert rss["prometheus"] < 384 and rss["prometheus-alertmanager"] < 96, rss


def test_no_topic_means_a_warning_not_a_failure(lab, converged_potato):
    run = run_deploy("le_potato", lab.inventory_file, limit="potato")
    assert run.returncode == 0 and run.changes == 0, run.explain()
    assert "alerts have nowhere to go" in run.stderr and "secrets set ntfy_url" in run.stderr


def test_a_hand_edited_rule_file_and_a_stopped_alertmanager_are_repaired(lab, converged_potato, inventory):
    """(Before the tests that switch the board to their fast timings: this is the lab's own
    configuration, converged, and then edited by hand.)"""
    assert "for: 5m" in potato(lab, f"cat {watcher.RULES}").stdout
    potato(lab, f"sed -i 's/for: .*/for: 99h/' {watcher.RULES} && systemctl stop prometheus-alertmanager", sudo=True)
    run = assert_repairs("le_potato", inventory, "potato", limit="potato")
    changed = run.changed_operations("potato")
    assert "Watcher | Alert rules" in changed and "Watcher | Restart prometheus after a change" in changed
    assert "for: 99h" not in potato(lab, f"cat {watcher.RULES}").stdout
    assert potato(lab, "systemctl is-active prometheus-alertmanager").stdout.strip() == "active"


def test_the_topic_and_its_token_are_for_root_and_prometheus_only(lab, alerting):
    url = f"{HOST_SIDE}:{NTFY_PORT}/homelab-alerts"
    for path in (watcher.ALERTMANAGER_CONFIG, watcher.TOKEN_FILE):
        assert potato(lab, f"stat -c '%a %U %G' {path}", sudo=True).stdout.split() == ["640", "root", "prometheus"]
    assert NTFY_TOKEN in potato(lab, f"cat {watcher.ALERTMANAGER_CONFIG}", sudo=True).stdout
    found = potato(lab, "grep -rlF -e " + url + " -e " + NTFY_TOKEN + " /etc /usr/local /home /var/lib/prometheus "
                   "2>/dev/null | xargs -r stat -c '%a %n'", sudo=True, check=False).stdout.splitlines()
    assert f"640 {watcher.ALERTMANAGER_CONFIG}" in found, found  # the search does find them where they are
    assert [line for line in found if not line.startswith("640 ")] == []
    assert potato(lab, f"cat {watcher.ALERTMANAGER_CONFIG}", check=False).returncode != 0, "not for the login user"


def test_gateway_down_reaches_the_phone_within_the_promise_and_so_does_its_resolve(lab, alerting, gateway, ntfy):
    started = time.time()
    gateway.stop("caddy")
    try:
        (firing,) = wait_until(lambda: ntfy.messages("GatewayDown", "firing", since=started), PROMISED_SECONDS,
                               "GatewayDown at the phone")
        took = firing["at"] - started
        print(f"gateway stopped -> alert at the phone: {took:.1f} s (promised {PROMISED_SECONDS} s)")
        assert firing["path"] == "/homelab-alerts"
        assert firing["query"] == {"template": ["alertmanager"], "priority": ["urgent"]}
        assert firing["headers"]["authorization"] == f"Bearer {NTFY_TOKEN}"
        (alert,) = firing["json"]["alerts"]
        assert alert["labels"]["severity"] == "page" and alert["labels"]["host"] == "gpu-node"
        assert "does not answer" in alert["annotations"]["summary"]

        # what fires now: on the owner's phone (its widget) and in doctor
        shown = lab.ssh("pixel", "bash /data/data/com.termux/files/home/.shortcuts/lab-alerts", check=False)
        assert shown.returncode == 1 and "page    GatewayDown: The API gateway on gpu-node" in shown.stdout, shown
        inventory = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
        checks = {c.check: c for c in host_checks(inventory.get_host("potato"))}
        assert not checks["what fires now"].ok and "GatewayDown" in checks["what fires now"].detail
        assert checks["watcher running (Prometheus, Alertmanager, blackbox)"].ok
    finally:
        restarted = time.time()
        gateway.start_caddy()
    (resolved,) = wait_until(lambda: ntfy.messages("GatewayDown", "resolved", since=restarted), PROMISED_SECONDS,
                             "the resolve at the phone")
    print(f"gateway back -> resolved at the phone: {resolved['at'] - restarted:.1f} s")
    assert len(ntfy.messages("GatewayDown", "firing", since=started)) == 1, "one message per group, not a storm"
    assert not ntfy.messages("GatewayDoorOpen", since=started), "no answer is not an open door"


def test_an_engine_down_pages_while_serving_and_not_while_paused(lab, alerting, gateway, ntfy):
    """The cluster reports an engine meant to run with no ready pod (the stand-in cluster
    Prometheus, through the gateway's /federate): EngineDown. Then game mode pauses the AI
    side (homelab-gpu, for real, on the GPU node): the alert resolves and nothing fires."""
    labels = f'namespace="ai",deployment="{ENGINE}"'
    gateway.cluster_series(f"kube_deployment_spec_replicas{{{labels}}} 1\n"
                           f"kube_deployment_status_replicas_available{{{labels}}} 0\n")
    started = time.time()
    try:
        (firing,) = wait_until(lambda: ntfy.messages("EngineDown", "firing", since=started), PROMISED_SECONDS + 5,
                               "EngineDown at the phone")
        assert firing["json"]["alerts"][0]["labels"]["deployment"] == ENGINE
        paused = time.time()
        lab.ssh("gpu-node", "homelab-gpu pause --by test", sudo=True, timeout=180)
        wait_until(lambda: ntfy.messages("EngineDown", "resolved", since=paused), PROMISED_SECONDS + 10,
                   "EngineDown resolved once paused")
        quiet_from = time.time()
        time.sleep(FOR_SECONDS + 4 * SCRAPE_SECONDS)
        assert query(lab, f'kube_deployment_status_replicas_available{{deployment="{ENGINE}"}} == 0'), \
            "the engine still reports no ready pod: only the pause keeps the alert quiet"
        assert not ntfy.messages("EngineDown", "firing", since=quiet_from)
        assert not query(lab, 'ALERTS{alertname="EngineDown"}')
    finally:
        gateway.cluster_series("")
        lab.ssh("gpu-node", "homelab-gpu resume --by test", sudo=True, timeout=300)


def test_the_watcher_door_gives_the_fixed_series_to_the_watcher_only(lab, alerting, gateway):
    """GET /federate from the watcher's address with its token, exactly: the cluster's
    Prometheus is asked the gateway's own query, whatever the caller sent."""
    node = lab.spec("gpu-node").address
    port = gateway.cfg.gateway_metrics_port
    token_file = watcher.TOKEN_FILE
    gateway.cluster_series('homelab_usage_store_ok 1\n')
    before = len(gateway.cluster_prometheus_requests())

    def from_potato(path: str, auth: str = f"Bearer $(cat {token_file})", method: str = "GET") -> str:
        header = f"-H \"Authorization: {auth}\"" if auth else ""
        return potato(lab, f"curl -s -o /dev/null -w '%{{http_code}}' -X {method} {header} "
                           f"'http://{node}:{port}{path}'", sudo=True).stdout

    assert from_potato("/federate") == "200"
    asked = gateway.cluster_prometheus_requests()[before:]
    assert asked, "the watcher's request reached the cluster's Prometheus"
    expected = parse_qs(watcher.federation_query(gateway.cfg))
    for request in asked:
        assert request["path"] == "/federate" and request["query"] == expected
        assert "authorization" not in request["headers"], "the watcher's token stays at the gateway"
    refused = {
        "a query of its own": from_potato("/federate?match[]=%7B__name__%3D~%22.%2B%22%7D"),
        "another path": from_potato("/api/v1/query?query=up"),
        "a trailing slash": from_potato("/federate/"),
        "no token": from_potato("/federate", auth=""),
        "a wrong token": from_potato("/federate", auth="Bearer " + "x" * 43),
        "POST": from_potato("/federate", method="POST"),
    }
    assert set(refused.values()) <= {"403", "404"}, refused
    outsider = requests.get(f"http://{node}:{port}/federate", timeout=5,
                            headers={"Authorization": "Bearer " + potato(lab, f"cat {token_file}", sudo=True)
                                     .stdout.strip()})
    assert outsider.status_code == 403, "the token from another address is refused"
    # the watcher's own scrapes are the only ones that got through
    for request in gateway.cluster_prometheus_requests()[before:]:
        assert request["query"] == expected


def test_the_phone_key_may_only_ask_what_fires(lab, alerting):
    key = "/data/data/com.termux/files/home/.ssh/homelab_remote"
    widget = lab.ssh("pixel", "cat /data/data/com.termux/files/home/.shortcuts/lab-alerts").stdout
    assert "homelab-alerts@" in widget and "firing" in widget
    other = lab.ssh("pixel", f"{widget.split('exec ', 1)[1].split(' -- ')[0]} -- "
                             f"homelab-alerts@{lab.spec('potato').address} 'cat /etc/prometheus/alertmanager.yml'",
                    check=False)
    assert other.returncode == 64 and "may only ask what fires now" in other.stderr, other
    assert key in widget
