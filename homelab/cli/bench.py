"""`tasks.py bench`: timings on the lab (the whole site, the gateway chain, a model's wake)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

from homelab import bench as benchmark
from homelab import table
from homelab.cli.common import fail, running_lab
from homelab.inventory_loading import load_inventory
from homelab.lab import PROJECT_ROOT, LabError


def _write(json_out: str, result: dict[str, Any]) -> None:
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json.dumps(result, indent=2))


@click.group(invoke_without_command=True)
@click.option("--fresh/--no-fresh", default=True, show_default=True,
              help="Reset every lab host first, to time a converge from scratch.")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 50),
              help="No-op re-runs to time (the median counts).")
@click.option("--json-out", default="build/bench.json", show_default=True, help="Where to write the results.")
@click.pass_context
def bench(ctx: click.Context, fresh: bool, rounds: int, json_out: str) -> None:
    """Time the whole site on the lab: fresh converge, no-op re-run, commands per host, SSH floor.
    `bench gateway`: what the gateway chain adds to a request; `bench wake`: a model on demand's
    wake to first token."""
    if ctx.invoked_subcommand is not None:
        return
    lab = running_lab()
    if fresh:
        for name in list(lab.state()["hosts"]):
            click.echo(f"resetting {name}", err=True)
            lab.reset(name, log=lambda m: None)
    site = PROJECT_ROOT / "deploys" / "site.py"
    click.echo("converging the site", err=True)
    converge = benchmark.timed_run(lab.inventory_file, site, PROJECT_ROOT)
    click.echo(f"re-running it {rounds} times (no-op)", err=True)
    noop = benchmark.timed_runs(lab.inventory_file, site, PROJECT_ROOT, rounds)
    inventory = load_inventory(lab.inventory_file)
    floor = benchmark.ssh_floor(inventory, rounds=5)
    # what pyinfra and the project cost on this machine with no SSH host at all (start-up,
    # inventory checks, the local clients): CPU-bound, so it varies with the machine
    local = benchmark.timed_runs(lab.inventory_file, site, PROJECT_ROOT, rounds, *benchmark.local_only(inventory))
    # the yardstick: a drift check should cost a few SSH round trips, not dozens
    ssh_floor = benchmark.median(list(floor.values()))
    noop["ratio_to_ssh_floor"] = round(noop["seconds"] / ssh_floor, 1)
    noop["local_seconds"] = local["seconds"]
    noop["remote_ratio_to_ssh_floor"] = round(max(noop["seconds"] - local["seconds"], 0) / ssh_floor, 1)
    hosts = sorted(set(converge["commands"]) | set(noop["commands"]))
    rows = [[h, str(converge["commands"].get(h, 0)), str(noop["commands"].get(h, 0)),
             f"{floor[h] * 1000:.0f} ms" if h in floor else "-"] for h in hosts]
    click.echo(table.render(["host", "commands (converge)", "commands (no-op)", "floor: one SSH round trip"], rows))
    click.echo(f"converge: {converge['seconds']} s ({converge['changes']} changes); "
               f"no-op re-run: {noop['seconds']} s ({noop['changes']} changes, median of {rounds}) = "
               f"{noop['ratio_to_ssh_floor']} x the SSH floor; {noop['remote_ratio_to_ssh_floor']} x the SSH floor "
               f"over the same run without SSH hosts ({local['seconds']} s: pyinfra's start-up and the local clients)")
    click.echo("game mode on the lab's stand-in engines", err=True)
    game = benchmark.game_mode(lab, inventory)
    click.echo(f"game mode ({game['engines']} stand-in engines: each answers {game['start_seconds']} s after the one "
               f"before it, stops in {game['stop_seconds']} s; take the real figures on the PC): "
               f"pause -> GPU memory free: {game['pause']['seconds']} s; "
               f"resume -> all engines answer: {game['resume']['seconds']} s")
    _write(json_out, {"converge": converge, "noop": noop, "ssh_floor_seconds": floor, "fresh": fresh,
                      "game_mode": game})
    click.echo(f"results: {json_out}", err=True)
    if converge["exit"] or noop["exit"]:
        fail("a deploy run failed: see `pyinfra .lab/inventory.py deploys/site.py`")
    if game["pause"]["exit"] or game["resume"]["exit"]:
        fail(f"game mode failed: {game['pause']['report']} {game['resume']['report']}")


@bench.command("gateway")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--requests", "per_round", default=200, show_default=True, type=click.IntRange(10, 10000))
@click.option("--json-out", default="build/bench-gateway.json", show_default=True, help="Where to write the results.")
def bench_gateway(rounds: int, per_round: int, json_out: str) -> None:
    """On the lab: sequential chat requests straight to the stand-in engine, to LiteLLM, through
    the door, through the whole gateway (Caddy, the door, LiteLLM as deployed): p50 and p95, and
    what the chain adds. The GPU node must be deployed (pyinfra .lab/inventory.py deploys/gpu_node.py)."""
    lab = running_lab()
    with tempfile.TemporaryDirectory() as work:
        try:
            result = benchmark.gateway_overhead(lab, Path(work), rounds, per_round)
        except (RuntimeError, OSError, LabError) as error:
            fail(f"bench gateway: {error} (is the GPU node deployed? pyinfra .lab/inventory.py deploys/gpu_node.py)")
    click.echo(table.render(["straight to", "p50 ms", "p95 ms"],
                            [[hop, f"{result[hop]['p50']:.2f}", f"{result[hop]['p95']:.2f}"]
                             for hop in ("engine", "litellm", "door", "gateway")]))
    click.echo(table.render(["part of the chain", "CPU ms per request"],
                            [["engine (stand-in)" if part == "upstream" else part, f"{ms:.2f}"]
                             for part, ms in result["cpu_ms_per_request"].items()]))
    click.echo(f"the gateway chain adds {result['overhead']['p50']:.1f} ms (p50), {result['overhead']['p95']:.1f} ms "
               f"(p95) to a request (median of {rounds} rounds of {per_round}, stand-in engine)")
    _write(json_out, result)


@bench.command("wake")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--json-out", default="build/bench-wake.json", show_default=True, help="Where to write the results.")
def bench_wake(rounds: int, json_out: str) -> None:
    """On the lab: a streamed request for an unloaded model on demand, through the deployed
    gateway, to its first token (stand-in engines that answer 2 s after they start). On the
    PC the figure is vLLM's cold start: time one request to an unloaded model there."""
    lab = running_lab()
    with tempfile.TemporaryDirectory() as work:
        try:
            result = benchmark.wake_to_first_token(lab, Path(work), rounds)
        except (RuntimeError, OSError, LabError) as error:
            fail(f"bench wake: {error} (is the GPU node deployed? pyinfra .lab/inventory.py deploys/gpu_node.py)")
    click.echo(f"wake to first token for {result['model']}: {result['median']:.2f} s (median of {rounds}; stand-in "
               f"engines answer {result['start_seconds']} s after they start)")
    _write(json_out, result)
