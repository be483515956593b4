"""The cluster's kubeconfig on the control machine: read from the k3s server (never
through a temporary copy on its disk), the server URL rewritten to the node's LAN
address, and merged into the MacBook's kubeconfig (mode 0600) as context
"<site_name>-<node>", next to whatever other clusters it holds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import yaml
from pyinfra.api.command import FunctionCommand, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.host import Host
from pyinfra.api.operation import operation
from pyinfra.api.state import State
from pyinfra.context import host

from homelab import host_state, k3s
from homelab.components import deploy
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.local_files import write_private
from homelab.settings import GpuNode


def merge_kubeconfig(existing: dict[str, Any] | None, k3s_config: dict[str, Any], name: str,
                     server: str) -> dict[str, Any]:
    """`existing` with k3s's single cluster/user/context added under `name` (replacing
    an older entry of that name), its server set to `server`."""
    merged = dict(existing or {})
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    merged.setdefault("preferences", {})
    cluster = dict(k3s_config["clusters"][0]["cluster"], server=server)
    user = dict(k3s_config["users"][0]["user"])
    entries = {
        "clusters": {"name": name, "cluster": cluster},
        "users": {"name": name, "user": user},
        "contexts": {"name": name, "context": {"cluster": name, "user": name}},
    }
    for section, entry in entries.items():
        merged[section] = [item for item in merged.get(section) or [] if item.get("name") != name] + [entry]
    if not merged.get("current-context"):
        merged["current-context"] = name
    return merged


def _has_context(path: Path, name: str, server: str) -> bool:
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    clusters = {c.get("name"): c.get("cluster", {}) for c in config.get("clusters") or []}
    return clusters.get(name, {}).get("server") == server and any(
        c.get("name") == name for c in config.get("contexts") or [])


def _fetch_and_merge(state: State, host: Host, remote: str, local: str, stamp: str, name: str, server: str) -> bool:
    command = StringCommand("cat", remote)
    for _ in range(60):  # a k3s started moments ago writes its kubeconfig within seconds
        ok, output = host.run_shell_command(command, print_output=False, print_input=False, _sudo=True)
        if ok and output.stdout_lines:
            break
        time.sleep(1)
    else:
        raise OperationError(f"{remote} did not appear on {host.name}: is k3s running?")
    text = "\n".join(output.stdout_lines) + "\n"
    target = Path(local).expanduser()
    existing = yaml.safe_load(target.read_text()) if target.exists() else None
    merged = merge_kubeconfig(existing, yaml.safe_load(text), name, server)
    write_private(target, yaml.safe_dump(merged, default_flow_style=False, sort_keys=False), dir_mode=None)
    Path(stamp).parent.mkdir(parents=True, exist_ok=True)
    Path(stamp).write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")
    return True


@operation()
def kubeconfig_on_control_machine(remote: str, local: str, stamp: str, context: str, server: str,
                                  known: dict[str, Any] | None) -> Generator[FunctionCommand, None, None]:
    """
    Merge the server's kubeconfig into `local` on the control machine as `context`.
    `stamp` records the sha256 of the remote file last merged, so that an unchanged
    cluster and an intact local entry cost no command and no change (`known`: the remote
    file's state from the host's probe).

    **Example:**

    .. code:: python

        kubeconfig_on_control_machine(remote="/etc/rancher/k3s/k3s.yaml", local="~/.kube/config",
                                      stamp="build/gpu-node/kubeconfig.sha256", context="homelab-gpu-node",
                                      server="https://192.168.1.50:6443", known=state.file("/etc/rancher/k3s/k3s.yaml"))
    """
    remote_sha = known["sha256"] if known else None
    stamp_path = Path(stamp)
    merged_before = stamp_path.exists() and stamp_path.read_text().strip() == remote_sha
    local_path = Path(local).expanduser()
    if remote_sha and merged_before and _has_context(local_path, context, server) \
            and (local_path.stat().st_mode & 0o777) == 0o600:
        host.noop(f"context {context} is up to date in {local}")
        return
    yield FunctionCommand(_fetch_and_merge, (remote, local, stamp, context, server), {})


host_state.reads(GpuNode, Query(files={k3s.KUBECONFIG}))


@deploy("kubeconfig on the control machine")
def kubeconfig() -> None:
    cfg = settings_for(host, GpuNode)
    context = k3s.context_name(cfg, host.name)
    kubeconfig_on_control_machine(
        name=f"context {context} in {cfg.kubeconfig_path}", remote=k3s.KUBECONFIG, local=cfg.kubeconfig_path,
        stamp=f"{cfg.client_files_dir}/{host.name}/kubeconfig.sha256", context=context,
        server=f"https://{cfg.lan_address}:{cfg.k3s_api_port}", known=host_state.snapshot(host).file(k3s.KUBECONFIG))
