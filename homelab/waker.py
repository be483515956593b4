"""Models on demand, the parts the node's waker, the door and the deploy share.

homelab-waker (files/gpu_mode/homelab-waker) runs on the k3s server as a systemd service:
the node's own kubectl is the only credential that scales the engines, and it never sits
in a pod that parses client requests. The door in LiteLLM's pod asks it, with the
waker's token, to wake a model by name (POST /wake) and keeps a long stream's engine
loaded (POST /busy); the waker accepts nothing else.
"""

from __future__ import annotations

from typing import Any

from homelab import gpu_mode, k3s
from homelab.stack.cluster_secrets import WAKER_TOKEN_ENV, WAKER_TOKEN_SECRET
from homelab.stack.common import StackContext
from homelab.stack.vllm import engine_deployment

TOOL = "/usr/local/bin/homelab-waker"
CONFIG = "/etc/homelab/waker.json"
TOKEN_FILE = "/etc/homelab/waker.token"
UNIT = "/etc/systemd/system/homelab-waker.service"
STATE_FILE = f"{gpu_mode.STATE_DIR}/models.json"  # each model's state, for status, doctor
METRICS_FILE = f"{gpu_mode.METRICS_DIR}/homelab_models.prom"
TOKEN_SECRET, TOKEN_ENV = WAKER_TOKEN_SECRET, WAKER_TOKEN_ENV
RETRY_AFTER_SECONDS = 30


def on_demand(ctx: StackContext) -> bool:
    return any(m.on_demand for m in ctx.models)


def url(ctx: StackContext) -> str:
    return f"http://{ctx.cfg.lan_address}:{ctx.cfg.waker_port}"


def config(ctx: StackContext) -> dict[str, Any]:
    """/etc/homelab/waker.json."""
    nodes = list(ctx.nodes)
    return {
        "listen": ctx.cfg.lan_address, "port": ctx.cfg.waker_port, "token_file": TOKEN_FILE,
        "namespace": ctx.namespace, "kubectl": [k3s.BINARY, "kubectl"],
        "models": {m.name: {"deployment": engine_deployment(m), "node": ctx.node_of(m),
                            "idle_seconds": round((m.idle_minutes or 0) * 60)} for m in ctx.models if m.on_demand},
        "paused_markers": dict(zip(nodes, gpu_mode.markers(nodes), strict=True)),
        "wake_timeout_seconds": ctx.cfg.wake_timeout_seconds,
        "start_timeout_seconds": ctx.cfg.engine_start_wait_seconds,
        "check_seconds": ctx.cfg.waker_check_seconds, "poll_seconds": 2,
        "retry_after_seconds": RETRY_AFTER_SECONDS,
        "state_file": STATE_FILE, "metrics_file": METRICS_FILE,
    }


def door_settings(ctx: StackContext) -> dict[str, Any] | None:
    """What the door knows of the waker (door.json), or None: no model on demand."""
    if not on_demand(ctx):
        return None
    shortest_idle = min((m.idle_minutes or 0) * 60 for m in ctx.models if m.on_demand)
    return {"url": url(ctx), "models": sorted(m.name for m in ctx.models if m.on_demand),
            # the waker holds a wake this long; the door gives it a little more
            "timeout_seconds": ctx.cfg.wake_timeout_seconds + 10,
            # a running stream is reported well within the shortest idle time
            "busy_seconds": max(1, min(20, int(shortest_idle // 3)))}
