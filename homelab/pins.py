"""The versions the GPU nodes run, as group data pins them: what `tasks.py upgrade` compares
with what the hosts run, what the GPU node deploy records on the k3s server after a
successful run (the way back for `upgrade apply`), and which pins must move together."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from homelab.settings import GpuNode

# Every group-data setting that says which release of something the GPU nodes run.
PINS = (
    "k3s_version", "k3s_sha256", "k3s_airgap_images_sha256", "nvidia_toolkit_version",
    "device_plugin_chart_version", "vllm_stack_chart_version", "kube_prometheus_stack_chart_version",
    "open_webui_chart_version", "vllm_image", "vllm_router_image", "litellm_image", "caddy_image",
)
# k3s cannot be downgraded (its datastore and the Kubernetes API move forward only): a
# rollback keeps these, and the way back for them is the backup.
K3S_PINS = ("k3s_version", "k3s_sha256", "k3s_airgap_images_sha256")
# On the k3s server, rewritten by each GPU node deploy that gets to its end.
RECORD = "/var/lib/homelab/pins.json"
RECORD_DIR = "/var/lib/homelab"


@dataclass(frozen=True)
class Partners:
    """Two pins that must move together, and why."""

    first: str
    second: str
    why: str


PARTNERS = (
    # production-stack releases chart and router from one tag (vllm-stack-0.1.12, lmstack-router:v0.1.12);
    # the chart's values.yaml leaves the router at "latest", so the pin is ours to move
    Partners("vllm_stack_chart_version", "vllm_router_image",
             "the chart writes the router's command line; both come from one production-stack release"),
    Partners("vllm_stack_chart_version", "vllm_image",
             "the chart writes the engines' vLLM command line; a vLLM release renames and drops flags"),
    Partners("device_plugin_chart_version", "nvidia_toolkit_version",
             "the device plugin runs on the toolkit's nvidia runtime (its README lists the toolkit it needs)"),
    Partners("k3s_version", "k3s_sha256", "the binary is checked against the release's sha256sum file"),
    Partners("k3s_version", "k3s_airgap_images_sha256", "the air-gap images belong to one release"),
)


def pins_of(cfg: GpuNode) -> dict[str, Any]:
    """The pins of one GPU node's merged data, as plain JSON values."""
    return {name: cfg.model_dump(mode="json")[name] for name in PINS}


def record_text(cfg: GpuNode) -> str:
    return json.dumps(pins_of(cfg), indent=2, sort_keys=True) + "\n"


def parse_record(text: str) -> dict[str, Any] | None:
    """The pins a server recorded; None for no record (a server deployed before records,
    or never), or one that is not the pins' JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not set(PINS) <= set(data):
        return None
    return {name: data[name] for name in PINS}


def data_options(pins: dict[str, Any]) -> list[str]:
    """pyinfra `--data` options that deploy `pins` instead of group data's (pyinfra reads
    each value as JSON: strings, and the sha256 maps)."""
    options = []
    for name in PINS:
        if name in pins:
            options += ["--data", f"{name}={json.dumps(pins[name])}"]
    return options


def lonely_moves(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Pins that move without their partner, each with why they belong together."""
    found = []
    for pair in PARTNERS:
        moved = [name for name in (pair.first, pair.second) if old.get(name) != new.get(name)]
        if len(moved) == 1:
            still = pair.second if moved[0] == pair.first else pair.first
            found.append(f"{moved[0]} moves ({shown(old.get(moved[0]))} -> {shown(new.get(moved[0]))}) but {still} "
                         f"stays at {shown(new.get(still))}: {pair.why}")
    return found


def shown(value: Any) -> str:
    """A pin as the plan prints it: a sha256 map by its architectures' first digits."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{arch}: {str(digest)[:12]}..." for arch, digest in sorted(value.items())) + "}"
    return str(value)


_K3S = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$")


def k3s_release(version: str) -> tuple[int, int, int, int]:
    """(major, minor, patch, k3s build) of a k3s release name, e.g. v1.34.2+k3s1."""
    match = _K3S.match(version)
    if not match:
        raise ValueError(f"not a k3s release name: {version!r} (like v1.34.2+k3s1)")
    major, minor, patch, build = (int(part) for part in match.groups())
    return major, minor, patch, build


def k3s_step_problem(running: str, pinned: str) -> str | None:
    """Why k3s cannot go from `running` to `pinned` in one deploy (a downgrade, a skipped
    minor), with the fix; None when it can."""
    now, wanted = k3s_release(running), k3s_release(pinned)
    if wanted < now:
        return (f"runs k3s {running}, k3s_version pins the older {pinned}: k3s cannot be downgraded; pin {running} "
                f"or newer (the way back to {pinned} is a backup taken before)")
    if wanted[:2] > (now[0], now[1] + 1):
        return (f"k3s {running} -> {pinned} skips a minor release: k3s upgrades one minor at a time; pin the newest "
                f"v{now[0]}.{now[1] + 1}.x+k3sN first, upgrade, then {pinned}")
    return None

