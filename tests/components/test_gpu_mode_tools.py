"""Game mode on the lab: the owner's phone pauses and resumes the AI side over SSH with a
key that can do nothing else, the gateway (real Caddy, the Caddyfile the deploy wrote)
answers at once with a 503 that says why, a deploy neither undoes the pause nor reports
it, and the Le Potato wakes the PC with a magic packet for exactly its MAC.

Stand-ins, named as such: there is no Kubernetes and no GPU here, so the engines'
Deployments live in the stand-in k3s's kubectl (seeded from the rendered manifests: they
answer once up for a few seconds, as vLLM's /health would) and the stand-in nvidia-smi
counts the planned GPU share of every engine that runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from homelab import gpu_mode
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.lab.stand_ins import engine_deployments, stand_in_cluster
from homelab.stack import helm_render
from tasks import cli
from tests.support import (
    PROJECT_ROOT,
    assert_converges,
    assert_idempotent,
    inventory_variant,
    landed_manifests,
    run_deploy,
)

pytestmark = pytest.mark.lab
SHORTCUTS = "/data/data/com.termux/files/home/.shortcuts"
START_SECONDS = 1.5  # a stand-in engine answers this long after the one before it
STOP_SECONDS = 2  # and its pod takes this long to go, holding its GPU memory


def seed_engines(lab) -> dict[str, dict]:
    """The stand-in cluster's engines (from the vLLM release rendered for the lab inventory,
    the one that landed), in their start order."""
    engines = engine_deployments(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT))
    landed = helm_render.render({"homelab-vllm.yaml": landed_manifests(lab)["homelab-vllm.yaml"][1]})
    assert set(engines) == {r.name for r in landed if r.kind == "Deployment" and r.name.endswith("-deployment-vllm")}
    lab.seed_stand_in_cluster(stand_in_cluster(engines, "ai", START_SECONDS, STOP_SECONDS))
    return engines


def widget(lab, name) -> subprocess.CompletedProcess:
    return lab.ssh("pixel", f"bash {SHORTCUTS}/{name}", check=False, timeout=120)


def status(lab) -> dict:
    result = widget(lab, "lab-status")
    assert result.returncode == 0, result.stderr
    reported = lab.ssh("gpu-node", f"{gpu_mode.TOOL} status --json", sudo=True).stdout
    return {"text": result.stdout, **json.loads(reported)}


@pytest.fixture
def engines(lab, converged_gpu_node, converged_potato, converged_pixel, gateway):
    found = seed_engines(lab)
    yield found
    lab.ssh("gpu-node", f"{gpu_mode.TOOL} resume --by test >/dev/null 2>&1; rm -rf /var/lib/homelab-lab/kubectl",
            sudo=True, check=False)


def test_pause_from_the_owners_phone_frees_the_gpu_and_the_gateway_says_why(lab, engines, gateway):
    token = gateway.tokens()["pixel"]
    before = status(lab)
    assert before["state"] == "serving"
    assert before["gpu_memory_used_mib"] >= sum(e["vram_mib"] for e in engines.values())
    started = time.monotonic()
    result = widget(lab, "lab-pause")
    assert result.returncode == 0, result.stderr
    assert "paused in" in result.stdout and "the GPU is free for a game" in result.stdout
    # it waited for the engines' pods to go (they hold the GPU until then), not for "not ready"
    assert time.monotonic() - started >= STOP_SECONDS
    after = status(lab)
    assert after["state"] == "paused" and after["by"] == "pixel" and after["since"]
    assert after["gpu_memory_used_mib"] < 1024 and all(e["replicas"] == 0 for e in after["engines"])
    assert "paused since" in after["text"] and "(by pixel)" in after["text"]
    # the gateway: at once, for every API call, after the token check
    for path, body in (("/v1/models", None), ("/v1/chat/completions", {"model": "gpt2", "messages": []})):
        asked = time.monotonic()
        response = gateway.call(path, token, body)
        assert response.status_code == 503 and time.monotonic() - asked < 1, response.text
        error = response.json()["error"]
        assert error["code"] == "gpu_paused" and "lent to a game" in error["message"]
        assert response.headers["Retry-After"] == "60"
    assert gateway.call("/v1/models").status_code == 401, "no token: still 401, the state is not for strangers"
    metrics = lab.ssh("gpu-node", f"cat {gpu_mode.METRICS_DIR}/homelab_gpu_mode.prom").stdout
    assert "homelab_gpu_mode 1" in metrics and "homelab_gpu_mode_since_timestamp_seconds" in metrics
    # Grafana's "AI side" panel asks for exactly what the tool writes
    (dashboard,) = [o for o in landed_manifests(lab)["homelab-monitoring.yaml"][1] if o["kind"] == "ConfigMap"
                    and "homelab-ai-side.json" in o["data"]]
    panels = json.loads(dashboard["data"]["homelab-ai-side.json"])["panels"]
    asked = {re.search(r"homelab_[a-z_]+", t["expr"]).group(0) for p in panels for t in p["targets"]}
    # game mode's figures and the GPU's (homelab-gpu-metrics), both in the textfile directory
    textfiles = lab.ssh("gpu-node", f"cat {gpu_mode.METRICS_DIR}/*.prom").stdout
    written = {re.split(r"[{ ]", line)[0] for line in textfiles.splitlines() if not line.startswith("#")}
    # paused, the stand-in nvidia-smi says [N/A] for power, as a GPU at rest may: no series
    # then (test_gpu_metrics.py sees it while serving)
    written.add("homelab_gpu_power_watts")
    assert asked and asked <= written
    print(f"pause -> GPU free: {time.monotonic() - started:.1f} s (stand-in engines)")

    result = widget(lab, "lab-resume")
    assert result.returncode == 0, result.stderr
    answered = [line.split(" answers again")[0] for line in result.stdout.splitlines() if "answers again" in line]
    assert answered == [e["model"] for e in before["engines"]], "in the planned start order"
    assert "all engines answer after" in result.stdout
    assert status(lab)["state"] == "serving"
    assert gateway.call("/v1/models", token).status_code == 200
    assert "homelab_gpu_mode 0" in lab.ssh("gpu-node", f"cat {gpu_mode.METRICS_DIR}/homelab_gpu_mode.prom").stdout


def test_a_paused_lab_stays_paused_across_deploys(lab, engines, inventory, tmp_path):
    assert widget(lab, "lab-pause").returncode == 0
    assert_idempotent("gpu_node", inventory, limit="gpu-node")
    assert status(lab)["state"] == "paused"
    # a changed vLLM release waits for the resume: Helm would bring the engines back
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"router_routing_logic": "roundrobin"}})
    run = run_deploy("gpu_node", variant, limit="gpu-node")
    assert run.returncode == 0, run.explain()
    assert run.changes == 0, run.changed_operations()
    assert "homelab-vllm.yaml changes, but the GPU is lent to a game" in run.stderr and "held back" in run.stderr
    assert "routingLogic: prefixaware" in lab.ssh("gpu-node", "cat /var/lib/rancher/k3s/server/manifests/"
                                                              "homelab-vllm.yaml", sudo=True).stdout
    assert all(e["replicas"] == 0 for e in status(lab)["engines"])
    assert widget(lab, "lab-resume").returncode == 0
    run = assert_converges("gpu_node", variant, limit="gpu-node")
    assert "AI stack manifests | homelab-vllm.yaml" in run.changed_operations("gpu-node")
    assert_converges("gpu_node", inventory, limit="gpu-node")


def test_a_model_switched_off_while_paused_waits_for_the_resume(lab, engines, inventory, tmp_path):
    """The engine list homelab-gpu works from follows the running release: a catalogue
    change made while paused is held back with it, and the resume brings back what runs."""
    assert widget(lab, "lab-pause").returncode == 0
    cfg = settings_for(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT).get_host("gpu-node"))
    catalogue = [m.model_dump(exclude_defaults=True) for m in cfg.models]
    next(entry for entry in catalogue if entry["name"] == "gpt2")["enabled"] = False
    variant = inventory_variant(lab, tmp_path, {name: {"models": catalogue} for name in
                                                ("gpu-node", "potato", "pixel", "@render/ipad", "@local")})
    try:
        run = run_deploy("gpu_node", variant, limit="gpu-node")
        assert run.returncode == 0, run.explain()
        assert not [op for op in run.changed_operations("gpu-node") if "homelab-vllm.yaml" in op or "Settings" in op]
        assert "vllm-gpt2-deployment-vllm" in lab.ssh("gpu-node", f"cat {gpu_mode.CONFIG}").stdout
        result = widget(lab, "lab-resume")
        assert result.returncode == 0 and "gpt2 answers again" in result.stdout, result.stdout + result.stderr
        assert status(lab)["state"] == "serving"
        run = assert_converges("gpu_node", variant, limit="gpu-node")
        changed = set(run.changed_operations("gpu-node"))
        assert {"AI stack manifests | homelab-vllm.yaml", "Game mode | Settings"} <= changed
        assert "gpt2" not in lab.ssh("gpu-node", f"cat {gpu_mode.CONFIG}").stdout
    finally:
        assert_converges("gpu_node", inventory, limit="gpu-node", expect_changes=None)


def test_a_revoked_phone_can_no_longer_pause(lab, converged_pixel, converged_gpu_node, converged_potato, inventory,
                                             gateway):
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "revoke", "pixel", "--inventory", str(inventory)]).exit_code == 0
    try:
        assert_converges("gpu_node", inventory, limit="gpu-node")
        assert_converges("le_potato", inventory, limit="potato")
        for name in ("lab-status", "lab-wake"):
            refused = widget(lab, name)
            assert refused.returncode == 255 and "Permission denied" in refused.stderr, name
    finally:
        assert runner.invoke(cli, ["keys", "create", "pixel", "--inventory", str(inventory)]).exit_code == 0
        assert_converges("gpu_node", inventory, limit="gpu-node")
        assert_converges("le_potato", inventory, limit="potato")
        assert_converges("clients", inventory, limit="pixel", expect_changes=None)
        gateway.reload()  # the phone's new API token, as the restarted gateway pod has it
    assert widget(lab, "lab-status").returncode == 0


@pytest.mark.parametrize("command", ["cat /etc/shadow", "pause; id", "sudo -i", "status --node x", ""])
def test_the_phone_key_can_do_nothing_else(lab, converged_pixel, converged_gpu_node, command):
    key = "/data/data/com.termux/files/home/.ssh/homelab_remote"
    known = "/data/data/com.termux/files/home/.ssh/homelab_known_hosts"
    base = f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={known}"
    result = lab.ssh("pixel", f"{base} -- homelab-gpu@{lab.spec('gpu-node').address} {command!r} </dev/null",
                     check=False)
    assert result.returncode != 0
    assert "may only pause, resume or ask the status" in result.stdout + result.stderr



def test_the_phone_key_cannot_forward_ports(lab, converged_pixel, converged_gpu_node):
    """Through a forward to the node's own sshd, a banner would come back: none does."""
    key = "/data/data/com.termux/files/home/.ssh/homelab_remote"
    known = "/data/data/com.termux/files/home/.ssh/homelab_known_hosts"
    tunnel = (f"ssh -v -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={known} -N "
              f"-L 16022:127.0.0.1:22 homelab-gpu@{lab.spec('gpu-node').address} 2>/tmp/tunnel.log")
    probe = "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/16022; head -c 7 <&3' 2>&1"
    result = lab.ssh("pixel", f"{tunnel} & sleep 2; {probe}; kill $! 2>/dev/null; sleep 0.5; "
                              "echo; echo =====ssh-log; cat /tmp/tunnel.log; rm -f /tmp/tunnel.log", check=False)
    probed, log = result.stdout.split("=====ssh-log", 1)
    # the key did log in (else the refusal below would prove nothing) ...
    assert "Authenticated to" in log, log[-2000:]
    # ... and the forward led nowhere
    assert "SSH-2.0" not in probed, "a port forward through the game-mode key worked"


def test_a_phone_that_is_not_the_owners_gets_no_widgets_and_no_key(lab, converged_gpu_node, tmp_path):
    variant = inventory_variant(lab, tmp_path, {"pixel": {"owner_device": False}})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        assert_converges("clients", variant, limit="pixel")
        listing = lab.ssh("pixel", f"ls {SHORTCUTS}; ls ~/.ssh").stdout.split()
        assert not [name for name in listing if name in ("lab-pause", "lab-resume", "lab-status", "lab-wake",
                                                        "homelab_remote")]
        keys = lab.ssh("gpu-node", "cat /home/homelab-gpu/.ssh/authorized_keys", sudo=True).stdout
        assert "pixel" not in keys and "ssh-ed25519" not in keys
        assert "pixel" not in lab.ssh("gpu-node", f"cat {gpu_mode.SUDOERS}", sudo=True).stdout
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
        assert_converges("clients", lab.inventory_file, limit="pixel")


def test_windows_gets_pause_and_resume_shortcuts_and_the_game_watcher(lab, converged_gpu_node, tmp_path):
    """PowerShell cannot run here: the script the deploy wrote is read as text."""
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"game_executables": ["eldenring.exe",
                                                                                  "Cyberpunk2077.exe"]}})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        script = (lab.state_dir / "build" / "gpu-node" / "windows-setup.ps1").read_text()
        assert '@(@("Pause AI", "pause"), @("Resume AI", "resume"), @("AI status", "status"))' in script
        assert '-d $Distribution -u root -- /usr/local/bin/homelab-gpu " + $Entry[1] + " --by windows' in script
        assert 'Join-Path $env:SystemRoot "System32\\cmd.exe"' in script and '"/k ' in script
        # the watcher undoes only a pause of its own
        assert "homelab-gpu status --json | ConvertFrom-Json).state" in script and 'if ($State -eq "serving")' in script
        assert "$Games = @('eldenring.exe', 'Cyberpunk2077.exe')" in script
        assert "homelab-gpu pause --by game-watcher" in script and "homelab-gpu resume --by game-watcher" in script
        assert "Start-Sleep -Seconds 10" in script
        assert 'Register-ScheduledTask -TaskName "homelab game watcher"' in script
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
    script = (lab.state_dir / "build" / "gpu-node" / "windows-setup.ps1").read_text()
    assert "No game watcher" in script and "Unregister-ScheduledTask" in script


def test_the_macbook_pauses_and_resumes_over_ssh_and_calls_an_unreachable_pc_asleep(lab, engines, tmp_path):
    """`tasks.py gpu ...` from the MacBook: the server's homelab-gpu over SSH, its report
    passed through; when SSH itself cannot reach the PC, the fix is to wake it."""
    def gpu(*args: str, inventory=lab.inventory_file) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "tasks.py", "gpu", *args, "--inventory", str(inventory)],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)

    paused = gpu("pause")
    assert paused.returncode == 0, paused.stderr
    status = gpu("status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "paused", status.stdout + status.stderr
    assert json.loads(status.stdout)["by"] == "macbook"
    resumed = gpu("resume")
    assert resumed.returncode == 0 and json.loads(gpu("status", "--json").stdout)["state"] == "serving"
    unreachable = inventory_variant(lab, tmp_path, {"gpu-node": {"ssh_hostname": "10.77.0.99"}})
    asleep = gpu("status", inventory=unreachable)
    assert asleep.returncode == 1, asleep.stdout + asleep.stderr
    assert "gpu-node: asleep (or off)" in asleep.stderr and "python tasks.py wake gpu-node" in asleep.stderr


def test_an_agents_resume_leaves_the_paused_server_paused(lab, engines, gateway):
    """homelab-gpu on the lab host with its deployed config plus a second GPU node (no
    engines there: the stand-in cluster has none); each node keeps its own state."""
    two_nodes = "/etc/homelab/gpu-mode-two-nodes.json"
    lab.ssh("gpu-node", "python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); "
                        "c[\"engines\"][\"gpu-node-2\"] = []; json.dump(c, open(sys.argv[2], \"w\"))' "
                        f"{gpu_mode.CONFIG} {two_nodes}", sudo=True)

    def tool(args: str) -> str:
        return lab.ssh("gpu-node", f"HOMELAB_GPU_CONFIG={two_nodes} {gpu_mode.TOOL} {args}", sudo=True).stdout

    try:
        tool("pause --by test")
        tool("pause --node gpu-node-2 --by test")
        tool("resume --node gpu-node-2 --by test")
        server = json.loads(tool("status --json"))
        assert server["state"] == "paused", server  # before: "serving", while the gateway said 503
        assert json.loads(tool("status --json --node gpu-node-2"))["state"] == "serving"
        assert gateway.call("/v1/models", gateway.tokens()["pixel"]).status_code == 503
    finally:
        tool("resume --by test")
        lab.ssh("gpu-node", f"rm -f {two_nodes} {gpu_mode.STATE_DIR}/state-gpu-node-2.json", sudo=True)


def test_an_unknown_node_is_refused_before_anything_is_written(lab, engines):
    state_file = f"{gpu_mode.STATE_DIR}/state.json"
    def state() -> str:  # no file until the first pause
        return lab.ssh("gpu-node", f"cat {state_file}", sudo=True, check=False).stdout

    before = state()
    for verb in ("pause", "resume"):
        result = lab.ssh("gpu-node", f"{gpu_mode.TOOL} {verb} --node typo --by test", sudo=True, check=False)
        assert result.returncode != 0 and "no GPU node 'typo'" in result.stderr, result.stdout + result.stderr
    assert lab.ssh("gpu-node", f"ls {gpu_mode.STATE_DIR}", sudo=True).stdout.split().count("paused-typo") == 0
    assert state() == before


class PacketCatcher:
    """UDP port 9 in the GPU-node lab host's network namespace: what arrives on its interface."""

    def __init__(self, lab):
        script = ("import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', 9))\ns.settimeout(20)\n"
                  "print('ready', flush=True)\ndata, peer = s.recvfrom(4096)\nprint(peer[0], data.hex(), flush=True)\n")
        self.proc = subprocess.Popen(["ip", "netns", "exec", lab.spec("gpu-node").netns, "python3", "-c", script],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def caught(self) -> tuple[str, bytes]:
        out, _ = self.proc.communicate(timeout=30)
        sender, payload = out.split()
        return sender, bytes.fromhex(payload)


def test_the_le_potato_wakes_the_pc_with_a_packet_for_exactly_its_mac(lab, converged_pixel, converged_gpu_node,
                                                                       converged_potato):
    mac = settings_for(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT).get_host("gpu-node")).wol_mac
    assert mac
    expected = b"\xff" * 6 + bytes.fromhex(mac.replace(":", "")) * 16
    catcher = PacketCatcher(lab)
    result = CliRunner().invoke(cli, ["wake", "gpu-node", "--inventory", str(lab.inventory_file)])
    assert result.exit_code == 0, result.output
    sender, payload = catcher.caught()
    assert sender == lab.spec("potato").address and payload == expected
    # and from the owner's phone, through the Le Potato's homelab-wake account
    catcher = PacketCatcher(lab)
    assert widget(lab, "lab-wake").returncode == 0
    assert catcher.caught() == (lab.spec("potato").address, expected)


@pytest.mark.parametrize("command", ["--list", "-h", "gpu-node; id", "cat /etc/shadow", ""])
def test_the_phone_key_on_the_le_potato_can_only_wake(lab, converged_pixel, converged_potato, command):
    key = "/data/data/com.termux/files/home/.ssh/homelab_remote"
    known = "/data/data/com.termux/files/home/.ssh/homelab_known_hosts"
    result = lab.ssh("pixel", f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={known} "
                              f"-- homelab-wake@{lab.spec('potato').address} {command!r}", check=False)
    assert result.returncode != 0 and "may only wake a GPU node" in result.stderr, result.stdout + result.stderr
