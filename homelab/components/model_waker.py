"""Models on demand on the k3s server: homelab-waker loads a model when a request asks for
it and unloads it when idle (catalogue: idle_minutes). It runs on the node with the node's
own kubectl, so no credential that can change the cluster sits in a pod that parses client
requests; the door in LiteLLM's pod reaches it with the waker's token (homelab/waker.py)."""

from __future__ import annotations

import json

from pyinfra.context import host

from homelab import host_state, k3s, waker
from homelab.components import deploy
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, files_in_place
from homelab.paths import FILES
from homelab.rendering import render
from homelab.secrets_store import Secret
from homelab.services import keep_running
from homelab.settings import GpuNode
from homelab.stack.common import StackContext

SERVICE = "homelab-waker"


host_state.reads(GpuNode, Query(files={waker.TOOL, waker.CONFIG, waker.TOKEN_FILE, waker.UNIT}, units={SERVICE}),
                 when=k3s.is_server)


@deploy("Models on demand")
def model_waker(ctx: StackContext) -> None:
    if not waker.on_demand(ctx) or ctx.secrets is None or ctx.secrets.waker_token is None:
        return  # every model always loaded: nothing to wake
    # its directories (state, metrics, /etc/homelab) are made by gpu_metrics and gpu_mode_tools
    # earlier in the same deploy
    state = host_state.snapshot(host)
    tool = ManagedFile(SERVICE, waker.TOOL, (FILES / "gpu_mode" / SERVICE).read_text(), mode="755")
    settings = ManagedFile("Which models, how idle", waker.CONFIG, json.dumps(waker.config(ctx), indent=2) + "\n")
    token = ManagedFile("The door's token", waker.TOKEN_FILE, Secret(ctx.secrets.waker_token.reveal() + "\n"),
                        mode="600")
    unit = ManagedFile(f"{SERVICE}.service", waker.UNIT,
                       render("model_waker", f"{SERVICE}.service.j2"))
    placed = files_in_place(tool, settings, token, unit, known=state.files)
    keep_running(SERVICE, state.unit(SERVICE), configs=[placed[tool], placed[settings], placed[token]],
                 units=[placed[unit]])
