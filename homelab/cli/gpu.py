"""`tasks.py gpu`: game mode, run on the k3s server over SSH (lend the GPU to a game and
take it back)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import click

from homelab import gpu_mode
from homelab.cli.common import INVENTORY_OPTION, fail, server
from homelab.ssh import ssh_command, sudo_prefix

GPU_NODE_OPTION = click.option("--node", default=None, help="The GPU node whose engines (default: the k3s server's).")


@click.group()
def gpu() -> None:
    """Game mode: lend the GPU to a game and take it back (on the k3s server, over SSH)."""


def _run(verb: str, inventory_file: str, node: str | None, *extra: str) -> None:
    name, cfg = server(inventory_file)
    args = [gpu_mode.TOOL, verb, "--by", "macbook", *(["--node", node] if node else []), *extra]
    remote = f"{sudo_prefix(cfg)}{shlex.join(args)}"
    code = subprocess.run(ssh_command(cfg, name, remote)).returncode
    if code == 255:  # ssh itself: the PC does not answer
        fail(f"{name}: asleep (or off): the PC does not answer. Wake it with `python tasks.py wake {name}`")
    sys.exit(code)


@gpu.command("pause")
@GPU_NODE_OPTION
@INVENTORY_OPTION
def gpu_pause(node: str | None, inventory_file: str) -> None:
    """Scale the node's engines to zero: the GPU (and WSL's memory) is free for a game;
    the gateway answers 503 meanwhile."""
    _run("pause", inventory_file, node)


@gpu.command("resume")
@GPU_NODE_OPTION
@INVENTORY_OPTION
def gpu_resume(node: str | None, inventory_file: str) -> None:
    """Bring the engines back in their start order; says when each answers again."""
    _run("resume", inventory_file, node)


@gpu.command("status")
@GPU_NODE_OPTION
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@INVENTORY_OPTION
def gpu_status(node: str | None, as_json: bool, inventory_file: str) -> None:
    """Serving, paused or resuming, since when and by whom; the engines; GPU memory in use."""
    _run("status", inventory_file, node, *(["--json"] if as_json else []))
