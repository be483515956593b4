"""`python tasks.py bench`: how long a fresh converge and a no-op re-run of the whole site
take on the lab, how many remote commands each host costs, and the floor: one SSH round
trip per host. A no-op re-run is the drift check people run often; its cost is one probe
per host (homelab.host_state) and pyinfra's own work, which is what this makes visible."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homelab import k3s
from homelab.host_settings import settings_for
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


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def timed_runs(inventory_file: Path, deploy: Path, cwd: Path, rounds: int) -> dict[str, Any]:
    """`rounds` runs of the same deploy: the last run's figures, with the median time."""
    runs = [timed_run(inventory_file, deploy, cwd) for _ in range(rounds)]
    return {**runs[-1], "seconds": median([r["seconds"] for r in runs]), "rounds": [r["seconds"] for r in runs],
            "exit": max(r["exit"] for r in runs), "changes": max(r["changes"] or 0 for r in runs)}


def timed_run(inventory_file: Path, deploy: Path, cwd: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as counts_file:
        counts_path = counts_file.name
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "homelab.bench_runner", counts_path, str(inventory_file), str(deploy),
                           "-y", "--json"], capture_output=True, text=True, cwd=cwd)
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
