"""Game mode on the k3s server: `homelab-gpu` (pause, resume, status) with its settings,
the state directory the gateway's 503 and Grafana's panel read, and a `homelab-gpu`
account whose only power is to run those three commands, for the owner's devices' keys.

The deploy never touches what pause changed (the engines' replica counts, the state
files), so a re-run neither undoes a pause nor reports it as drift."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.context import host

from homelab import gpu_mode, host_state, k3s
from homelab.components import deploy
from homelab.components.restricted_account import query, restricted_account
from homelab.host_settings import secrets_store
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.paths import FILES
from homelab.settings import GpuNode
from homelab.stack.common import StackContext
from homelab.stack.vllm import RELEASE, engine_deployment


def config(ctx: StackContext) -> dict[str, Any]:
    """/etc/homelab/gpu-mode.json: which engines each GPU node runs, in their start order."""
    return {
        "node": ctx.node_name,
        "namespace": ctx.namespace,
        "kubectl": [k3s.BINARY, "kubectl"],
        "state_dir": gpu_mode.STATE_DIR,
        "metrics_dir": gpu_mode.METRICS_DIR,
        "pause_timeout_seconds": 180,
        "resume_timeout_seconds": ctx.cfg.engine_start_wait_seconds * max(len(ctx.models), 1) + 300,
        "engines": {node: [{"model": m.name, "deployment": engine_deployment(m), "on_demand": m.on_demand,
                            "selector": f"model={m.name},helm-release-name={RELEASE}"} for m in ctx.models_on(node)]
                    for node in ctx.nodes},
    }


def sudoers(owner_devices: list[str]) -> str:
    """Exactly the three commands, per device, nothing with a wildcard."""
    lines = ["# Managed by homelab (pyinfra): the owner's devices may pause, resume and ask the status of the",
             "# AI side through the homelab-gpu account, and nothing else."]
    for device in owner_devices:
        commands = ", ".join(f"{gpu_mode.TOOL} {verb} --by {device}" for verb in gpu_mode.VERBS)
        lines.append(f"{gpu_mode.ACCOUNT} ALL=(root) NOPASSWD: {commands}")
    return "\n".join(lines) + "\n"


def _files() -> list[str]:
    return [gpu_mode.TOOL, gpu_mode.REMOTE, gpu_mode.CONFIG, gpu_mode.SUDOERS, gpu_mode.METRICS_FILE]


host_state.reads(GpuNode, lambda host_, cfg: Query(
    files={*_files(), *gpu_mode.markers([node.name for node in k3s.gpu_nodes(host_.inventory)])},
    dirs={gpu_mode.STATE_DIR, gpu_mode.METRICS_DIR, "/etc/homelab"}).merge(query(gpu_mode.ACCOUNT)),
    when=k3s.is_server)


@deploy("Game mode")
def gpu_mode_tools(ctx: StackContext) -> None:
    state = host_state.snapshot(host)
    keys = gpu_mode.owner_keys(host.inventory, secrets_store(host))
    keys_file = restricted_account(gpu_mode.ACCOUNT, gpu_mode.REMOTE, keys, state)
    for directory in (gpu_mode.STATE_DIR, gpu_mode.METRICS_DIR, "/etc/homelab"):
        directory_in_place(name=directory, path=directory, mode="755", known=state.dirs[directory])
    known = state.files
    settings = ManagedFile("Settings", gpu_mode.CONFIG, json.dumps(config(ctx), indent=2) + "\n", mode="644")
    managed = [
        ManagedFile("homelab-gpu", gpu_mode.TOOL, (FILES / "gpu_mode" / "homelab-gpu").read_text(), mode="755"),
        ManagedFile("homelab-gpu-remote", gpu_mode.REMOTE, (FILES / "gpu_mode" / "homelab-gpu-remote").read_text(),
                    mode="755"),
        settings,
        ManagedFile("sudoers: the three commands", gpu_mode.SUDOERS, sudoers(sorted(keys)), mode="440"),
        keys_file,
    ]
    if gpu_mode.any_paused(known, list(ctx.nodes)) and known[settings.dest]:
        # its engine list must stay the one the running (paused) release has: a model added
        # meanwhile has no Deployment yet; both follow the vLLM release after the resume
        managed.remove(settings)
    files_in_place(*managed, known=known)
    if known[gpu_mode.METRICS_FILE] is None:  # never overwritten: homelab-gpu keeps it
        files_in_place(ManagedFile("Grafana's AI-side figures (serving)", gpu_mode.METRICS_FILE,
                                   gpu_mode.INITIAL_METRICS, mode="644"), known=known)
