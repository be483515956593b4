"""`python tasks.py bench`: how long a fresh converge and a no-op re-run of the whole site
take on the lab, how many remote commands each host costs, and the floor: one SSH round
trip per host. A no-op re-run is the drift check people run often; its cost is one probe
per host (homelab.host_state) and pyinfra's own work, which is what this makes visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homelab import k3s
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.settings import DebianHost, GpuNode, TermuxPhone
from homelab.ssh import ssh_command

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

    from homelab.lab import Lab


def ssh_floor(inventory: Inventory, rounds: int = 3) -> dict[str, float]:
    """Median seconds of `ssh host true` per SSH host."""
    floors = {}
    for host in inventory:
        cfg = settings_for(host)
        if not isinstance(cfg, (DebianHost, TermuxPhone)):
            continue
        times = []
        for _ in range(rounds):
            started = time.monotonic()
            subprocess.run(ssh_command(cfg, host.name, "true"), capture_output=True, timeout=60)
            times.append(time.monotonic() - started)
        floors[host.name] = median(times)
    return floors


def local_only(inventory: Inventory) -> list[str]:
    """--limit options naming only the hosts pyinfra reaches without SSH (@local, @render/...)."""
    return [option for host in inventory if host.name.startswith("@") for option in ("--limit", host.name)]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def timed_runs(inventory_file: Path, deploy: Path, cwd: Path, rounds: int, *extra: str) -> dict[str, Any]:
    """`rounds` runs of the same deploy: the last run's figures, with the median time."""
    runs = [timed_run(inventory_file, deploy, cwd, *extra) for _ in range(rounds)]
    return {**runs[-1], "seconds": median([r["seconds"] for r in runs]), "rounds": [r["seconds"] for r in runs],
            "exit": max(r["exit"] for r in runs), "changes": max(r["changes"] or 0 for r in runs)}


def timed_run(inventory_file: Path, deploy: Path, cwd: Path, *extra: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as counts_file:
        counts_path = counts_file.name
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "homelab.bench_runner", counts_path, str(inventory_file), str(deploy),
                           "-y", "--json", *extra], capture_output=True, text=True, cwd=cwd)
    seconds = time.monotonic() - started
    counts = json.loads(Path(counts_path).read_text() or "{}")
    Path(counts_path).unlink()
    payload = json.loads(proc.stdout[proc.stdout.find("{"):]) if "{" in proc.stdout else {}
    totals = (payload.get("results") or {}).get("totals", {})
    return {"seconds": round(seconds, 2), "exit": proc.returncode, "changes": totals.get("success"),
            "commands": counts}


def game_mode(lab: Lab, inventory: Inventory, start_seconds: float = 2, stop_seconds: float = 1) -> dict[str, Any]:
    """On the lab: seconds from `homelab-gpu pause` to the GPU's memory free, and from
    `resume` to every engine answering, each through SSH as the MacBook would ask. The
    engines are the stand-in cluster's (seeded from the rendered vLLM release; each answers
    `start_seconds` after it is scaled up): the real figures are to be taken on the PC."""
    from homelab import gpu_mode
    from homelab.lab.stand_ins import engine_deployments, stand_in_cluster

    server = k3s.server_host(inventory)
    cfg = settings_for(server, GpuNode)
    engines = engine_deployments(inventory)
    lab.seed_stand_in_cluster(stand_in_cluster(engines, cfg.stack_namespace, start_seconds, stop_seconds))
    timings = {}
    for verb in ("pause", "resume"):
        started = time.monotonic()
        proc = subprocess.run(ssh_command(cfg, server.name, f"sudo -n {gpu_mode.TOOL} {verb} --by bench"),
                              capture_output=True, text=True, timeout=600)
        timings[verb] = {"seconds": round(time.monotonic() - started, 2), "exit": proc.returncode,
                         "report": proc.stdout.strip().splitlines()[-1:] or [proc.stderr.strip()]}
    return {"engines": len(engines), "start_seconds": start_seconds, "stop_seconds": stop_seconds, **timings}


def gateway_overhead(lab: Lab, work: Path, rounds: int = 3, requests_per_round: int = 200) -> dict[str, Any]:
    """What the gateway chain adds to a chat request, on the lab (homelab.lab.gateway: Caddy,
    the door and LiteLLM from what the deploy wrote, as their pods run them, in front of the
    STAND-IN engine): `rounds` rounds of `requests_per_round` sequential requests straight to
    the engine, to LiteLLM, through the door, through the whole gateway; p50 and p95 per
    round, the median round's, and the overhead over the engine."""
    import requests

    from homelab.lab.gateway import LITELLM_INNER_PORT, UPSTREAM_PORT, Gateway
    from homelab.lab.network import HOST_SIDE

    gateway = Gateway(lab, work)
    body: dict[str, Any] = {"model": "gpt2", "messages": [{"role": "user", "content": "a benchmark"}]}
    try:
        gateway.start()
        door_headers = {"Authorization": f"Bearer {gateway.litellm_key('gateway')}", "X-Homelab-Device": "macbook"}
        hops = {"engine": (f"http://{HOST_SIDE}:{UPSTREAM_PORT}", {"Authorization": f"Bearer {gateway.vllm_key}"}),
                "litellm": (f"http://127.0.0.1:{LITELLM_INNER_PORT}", door_headers),
                "door": (gateway.litellm_url, door_headers),
                "gateway": (gateway.url, {"Authorization": f"Bearer {gateway.tokens()['macbook']}"})}
        figures: dict[str, dict[str, list[float]]] = {hop: {"p50": [], "p95": []} for hop in hops}
        # CPU each part of the chain spends on a request through the whole gateway: steadier
        # than a latency on a loaded machine, and what says which part to make cheaper
        chain = {part: gateway.processes[part].pid for part in CHAIN}
        cpu = dict.fromkeys(CHAIN, 0.0)
        for _ in range(rounds):
            for hop, (base, headers) in hops.items():
                session = requests.Session()
                for _ in range(10):  # connections open, LiteLLM's caches warm
                    session.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30)
                before = {part: cpu_seconds(pid) for part, pid in chain.items()}
                times = []
                for _ in range(requests_per_round):
                    started = time.perf_counter()
                    answer = session.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30)
                    times.append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{hop}: {answer.status_code} {answer.text[:200]}")
                if hop == "gateway":
                    for part, pid in chain.items():
                        cpu[part] += cpu_seconds(pid) - before[part]
                times.sort()
                figures[hop]["p50"].append(times[len(times) // 2] * 1000)
                figures[hop]["p95"].append(times[int(len(times) * 0.95)] * 1000)
    finally:
        gateway.stop_all()
    result: dict[str, Any] = {hop: {q: round(median(v), 2) for q, v in f.items()} for hop, f in figures.items()}
    result["overhead"] = {q: round(result["gateway"][q] - result["engine"][q], 2) for q in ("p50", "p95")}
    result["cpu_ms_per_request"] = {part: round(seconds * 1000 / (rounds * requests_per_round), 2)
                                    for part, seconds in cpu.items()}
    result["rounds"], result["requests_per_round"] = rounds, requests_per_round
    return result


# the gateway's parts as homelab.lab.gateway names their processes, in a request's order
CHAIN = ("caddy", "door", "litellm", "upstream")


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wake_to_first_token(lab: Lab, work: Path, rounds: int = 3, start_seconds: float = 2) -> dict[str, Any]:
    """On the lab: seconds from a streamed chat request for an unloaded model on demand (through
    the whole gateway, as deployed) to its first token. The engines are the stand-in
    cluster's, each answering `start_seconds` after it is scaled up, behind the STAND-IN
    engine: the real figure is vLLM's cold start on the PC."""
    import requests

    from homelab import waker
    from homelab.lab.gateway import Gateway
    from homelab.lab.stand_ins import engine_deployments, stand_in_cluster
    from homelab.stack.vllm import engine_deployment

    inventory = load_inventory(lab.inventory_file)
    server = k3s.server_host(inventory)
    cfg = settings_for(server, GpuNode)
    model = next((m for m in cfg.models if m.enabled and m.on_demand and m.kind != "embedding"), None)
    if model is None:
        raise RuntimeError("no chat model on demand in the catalogue (idle_minutes)")
    lab.seed_stand_in_cluster(stand_in_cluster(engine_deployments(inventory), cfg.stack_namespace, start_seconds, 0))
    address = f"http://{cfg.lan_address}:{cfg.waker_port}"

    def state() -> str:
        text = lab.ssh(server.name, f"curl -sf -H \"Authorization: Bearer $(cat {waker.TOKEN_FILE})\" {address}/state",
                       sudo=True).stdout
        found: str = json.loads(text)[model.name]["state"]
        return found

    gateway = Gateway(lab, work)
    body: dict[str, Any] = {"model": model.name, "stream": True,
                            "messages": [{"role": "user", "content": "a benchmark"}]}
    seconds = []
    try:
        gateway.start()
        token = gateway.tokens()[sorted(gateway.tokens())[0]]
        for _ in range(rounds):
            lab.ssh(server.name, f"k3s kubectl -n {cfg.stack_namespace} scale deployment {engine_deployment(model)} "
                                 "--replicas=0", sudo=True)
            deadline = time.monotonic() + cfg.waker_check_seconds * 3 + 10
            while state() != "unloaded":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the waker did not see {model.name} unloaded")
                time.sleep(0.5)
            started = time.perf_counter()
            with requests.post(f"{gateway.url}/v1/chat/completions", json=body, stream=True, timeout=120,
                               headers={"Authorization": f"Bearer {token}"}) as answer:
                if answer.status_code != 200:
                    raise RuntimeError(f"{answer.status_code} {answer.text[:200]}")
                for line in answer.iter_lines():
                    if line.startswith(b"data: ") and b'"content"' in line:
                        seconds.append(round(time.perf_counter() - started, 2))
                        break
    finally:
        gateway.stop_all()
    return {"model": model.name, "start_seconds": start_seconds, "seconds": seconds, "median": median(seconds)}
