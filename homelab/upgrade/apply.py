"""`python tasks.py upgrade apply`: the plan first (refused or risky changes stop here),
then a backup, the deploy (the k3s server before its agents when k3s moves), the releases
settled, the smoke test; when a step fails, the pins the server recorded at its last
successful deploy are deployed again (k3s excepted: it cannot be downgraded, and its way
back is the backup)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homelab import backup, devices, k3s, pins
from homelab import smoke as smoke_test
from homelab.client_setup import api_base_url_for, enabled_models, tls_verify
from homelab.doctor import cluster_checks, cluster_sections, parse_sections, sections_script
from homelab.host_settings import secrets_store, settings_for
from homelab.paths import PROJECT_ROOT
from homelab.settings import GpuNode
from homelab.ssh import ssh_command
from homelab.upgrade.plan import Plan

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

DEPLOY = PROJECT_ROOT / "deploys" / "gpu_node.py"
SETTLE_POLL_SECONDS = 5


@dataclass(frozen=True)
class Options:
    inventory_file: Path
    device: str  # whose token the smoke test calls with
    backup_dir: Path
    passphrase: Callable[[], str]
    settle_seconds: float = 900
    log: Callable[[str], object] = print


class StepFailed(Exception):
    pass


def deploy_runs(inventory: Inventory, plan: Plan) -> list[list[str]]:
    """--limit options per pyinfra run: the server alone first when k3s moves, then its agents."""
    nodes = [node.name for node in k3s.gpu_nodes(inventory)]
    if plan.k3s_moves and len(nodes) > 1:
        return [["--limit", nodes[0]], [option for name in nodes[1:] for option in ("--limit", name)]]
    return [[option for name in nodes for option in ("--limit", name)]]


def run_deploy(options: Options, limits: list[str], data: list[str]) -> None:
    cmd = [sys.executable, "-m", "pyinfra", "-y", str(options.inventory_file), str(DEPLOY), *limits, *data]
    options.log(f"deploy: pyinfra {options.inventory_file} deploys/gpu_node.py {' '.join(limits)}"
                + (" (with the recorded pins)" if data else ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if proc.returncode != 0:
        tail = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()][-6:]
        raise StepFailed("the deploy failed (exit {}):\n    {}".format(proc.returncode, "\n    ".join(tail)))


def settle(inventory: Inventory, options: Options) -> None:
    """Wait until the server's nodes and pods are Ready and no Helm release failed, twice
    in a row (the Helm controller starts its jobs a moment after the files change)."""
    server = k3s.server_host(inventory)
    cfg = settings_for(server, GpuNode)
    script = sections_script(cluster_sections(cfg))
    deadline = time.monotonic() + options.settle_seconds
    good = 0
    while True:
        proc = subprocess.run(ssh_command(cfg, server.name, script), capture_output=True, text=True, timeout=120)
        checks = cluster_checks(server.name, cfg, parse_sections(proc.stdout))
        failed = [c for c in checks if not c.ok]
        if any(c.check.startswith("Helm release ") for c in failed):
            raise StepFailed("a Helm release failed: " + "; ".join(f"{c.check}: {c.detail} ({c.fix})" for c in failed))
        good = 0 if failed else good + 1
        if good >= 2:
            options.log(f"settled: {'; '.join(c.detail for c in checks if c.check in ('pods Ready', 'Helm releases'))}")
            return
        if time.monotonic() > deadline:
            raise StepFailed("the releases did not settle in time: " + "; ".join(f"{c.check}: {c.detail}"
                                                                                for c in failed))
        time.sleep(SETTLE_POLL_SECONDS)


def smoke(inventory: Inventory, options: Options) -> None:
    server = k3s.server_host(inventory)
    cfg = settings_for(server, GpuNode)
    store = secrets_store(server)
    if devices.is_revoked(store, options.device) or not store.has(devices.token_key(options.device)):
        raise StepFailed(f"{options.device} has no active token for the smoke test (--device)")
    steps = smoke_test.run(api_base_url_for(cfg), store.get(devices.token_key(options.device)).reveal(),
                           enabled_models(cfg), verify=tls_verify(cfg, server.name), timeout=300)
    failed = [s for s in steps if not s.ok]
    if failed:
        raise StepFailed("the smoke test failed: " + "; ".join(f"{s.name}: {s.detail}" for s in failed))
    options.log(f"smoke test passed ({len(steps)} steps)")


def rollback_pins(plan: Plan) -> dict[str, Any] | None:
    """The recorded pins, with k3s's kept where it moved (no downgrade)."""
    if plan.record is None:
        return None
    back = dict(plan.record)
    if plan.k3s_moves:
        back.update({name: plan.wanted_pins[name] for name in pins.K3S_PINS})
    return back


def steps_text(inventory: Inventory, plan: Plan, options: Options) -> list[str]:
    runs = deploy_runs(inventory, plan)
    return [f"back up the server and the secrets store to {options.backup_dir}/",
            *(f"deploy deploys/gpu_node.py {' '.join(limits)}" for limits in runs),
            f"wait for the nodes, pods and Helm releases (at most {options.settle_seconds:.0f} s)",
            f"smoke test through the gateway as {options.device}",
            "on a failure: deploy the pins recorded on the server again" + (" (k3s stays)" if plan.k3s_moves else "")]


def apply(inventory: Inventory, plan: Plan, options: Options, dry: bool = False) -> bool:
    """Carry `plan` out; True when the upgrade passed its checks."""
    log = options.log
    if plan.k3s_moves:
        log("k3s moves: it cannot be downgraded. If this upgrade fails, the rest goes back to the recorded pins and "
            "k3s stays at its new release; the way back for k3s is the backup taken now "
            "(`python tasks.py restore <archive>`, then deploy the old pins).")
    if dry:
        log("--dry: nothing is written. apply would:")
        for number, step in enumerate(steps_text(inventory, plan, options), 1):
            log(f"  {number}. {step}")
        return True
    server = k3s.server_host(inventory)
    cfg = settings_for(server, GpuNode)
    try:
        archive = backup.take(server.name, cfg, Path(cfg.secrets_file), options.backup_dir, options.passphrase(),
                              log=lambda m: log(f"  {m}"))
    except backup.BackupError as exc:
        log(f"backup failed, nothing was changed: {exc}")
        return False
    log(f"backup: {archive}")
    try:
        for limits in deploy_runs(inventory, plan):
            run_deploy(options, limits, [])
        settle(inventory, options)
        smoke(inventory, options)
    except StepFailed as exc:
        log(f"UPGRADE FAILED: {exc}")
        return _roll_back(inventory, plan, options, archive)
    log("upgraded: the server recorded the new pins")
    return True


def _roll_back(inventory: Inventory, plan: Plan, options: Options, archive: Path) -> bool:
    log = options.log
    back = rollback_pins(plan)
    if back is None:
        log(f"no pins were recorded on the server before: nothing to roll back to; restore the backup with "
            f"`python tasks.py restore {archive}`")
        return False
    log("rolling back to the pins recorded before the upgrade")
    try:
        run_deploy(options, [o for limits in deploy_runs(inventory, plan) for o in limits], pins.data_options(back))
        settle(inventory, options)
        smoke(inventory, options)
    except StepFailed as exc:
        log(f"ROLLBACK FAILED too: {exc}\nrestore the backup: `python tasks.py restore {archive}`, then deploy")
        return False
    log("rolled back: the hosts run the recorded pins again (group data still pins the new ones: fix or revert "
        "them before the next deploy)")
    return False
