"""The AI hosting stack, written into k3s's auto-deploy directory on the k3s server:
k3s applies the files and its Helm controller installs and keeps the releases. A
component switched off in group data is deleted from the cluster first, then its file
removed (k3s does not delete what a removed file created)."""

import hashlib
from typing import Any

from pyinfra import logger
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.context import host

from homelab import client_setup, devices, gpu_mode, host_state, k3s
from homelab.components import deploy
from homelab.guards import refuse
from homelab.host_settings import secrets_store, settings_for
from homelab.host_state import Query
from homelab.operations.cluster import manifest_removed
from homelab.operations.files import directory_in_place, fetched_file, file_in_place, verified_download
from homelab.secrets_store import Secret, forget_pending
from homelab.settings import ApiClient, GpuNode, LePotato
from homelab.stack import cluster_secrets, gateway, litellm, manifests, security
from homelab.stack.common import StackContext


def stack_context(host_: Host, inventory_: Inventory) -> StackContext:
    """The stack as the k3s server `host_` runs it, for every GPU node of `inventory_`."""
    exporters, watchers = [], []
    for potato in inventory_.get_group("le_potato", []):
        potato_cfg = settings_for(potato, LePotato)
        exporters.append(f"{potato_cfg.node_exporter_address}:{potato_cfg.node_exporter_port}")
        if potato_cfg.watcher_enabled:
            watchers.append(potato_cfg.lan_address)
    server = settings_for(host_, GpuNode)
    nodes = {host_.name: server}
    nodes.update({node.name: settings_for(node, GpuNode) for node in k3s.gpu_nodes(inventory_)
                  if node.name != host_.name})
    secrets = cluster_secrets.resolve(secrets_store(host_), server, devices.api_devices(inventory_),
                                      watcher=bool(watchers))
    limits = {devices.device_name(client): settings_for(client, ApiClient).limits
              for group in devices.API_CLIENT_GROUPS for client in inventory_.get_group(group, [])}
    return StackContext(nodes=nodes, node_exporters=exporters, watchers=watchers, secrets=secrets,
                        tenant_limits=limits)


def manifest_path(name: str) -> str:
    return f"{k3s.MANIFESTS_DIR}/{name}.yaml"


host_state.reads(GpuNode, lambda host_, cfg: Query(
    files={*(manifest_path(name) for name in manifests.ALL_FILES),
           *gpu_mode.markers([node.name for node in k3s.gpu_nodes(host_.inventory)]), gateway.ROOT_CERT},
    dirs={k3s.MANIFESTS_DIR, gateway.DATA_DIR, litellm.USAGE_DIR}), when=k3s.is_server)


def held_back(name: str, text: str, known: dict[str, Any] | None, paused: bool) -> bool:
    """While the GPU is lent to a game, a changed vLLM release is not handed to k3s: Helm
    would bring the engines back onto a GPU the game holds. It waits for the resume."""
    if not paused or name != manifests.VLLM.file or known is None:
        return False
    if known["sha256"] == hashlib.sha256(text.encode()).hexdigest():
        return False
    logger.warning(f"{host.print_prefix}{name}.yaml changes, but the GPU is lent to a game (homelab-gpu pause): "
                   "held back until `python tasks.py gpu resume` and the next deploy")
    return True



@deploy("AI stack manifests")
def ai_stack(ctx: StackContext) -> None:
    """The stack as `ctx` (stack_context(host, inventory)) describes it."""
    state = host_state.snapshot(host)
    directory_in_place(name="k3s auto-deploy directory", path=k3s.MANIFESTS_DIR, mode="700",
                       known=state.dirs[k3s.MANIFESTS_DIR])
    # the gateway's CA and certificates: its pod runs as an unprivileged user, not root (a CA
    # made by an earlier, root gateway goes to that user too)
    pod_user = str(security.POD_UID)
    directory_in_place(name="Gateway data directory", path=gateway.DATA_DIR, mode="700", user=pod_user,
                       group=pod_user, recursive=True, known=state.dirs[gateway.DATA_DIR])
    # the tenants' usage store (token quotas), written by the door in LiteLLM's pod
    directory_in_place(name="Usage store directory", path=litellm.USAGE_DIR, mode="700", user=pod_user,
                       group=pod_user, recursive=True, known=state.dirs[litellm.USAGE_DIR])
    known = state.files
    paused = gpu_mode.any_paused(known, list(ctx.nodes))
    secrets_path = manifest_path(manifests.SECRETS.file)
    secrets = ctx.secrets
    if secrets is None:
        raise ValueError("ai_stack needs the stack context with its secrets (stack_context)")
    if known[secrets_path] is not None and cluster_secrets.CLUSTER_SENTINEL in secrets.made_now:
        forget_pending(ctx.cfg.secrets_file, secrets.made_now)
        refuse(f"{secrets_path} exists but this machine's secrets store ({ctx.cfg.secrets_file}) has no "
               f"{cluster_secrets.CLUSTER_SENTINEL}: "
               "new keys would lock every client out. Fix: copy the secrets store from the machine that set up the "
               "cluster, or `python tasks.py restore <backup>`")
        return
    file_in_place(name=f"{manifests.SECRETS.file}.yaml (Secrets from the secrets store)", dest=secrets_path,
                  content=Secret(manifests.secrets_text(ctx)), known=known[secrets_path])
    switched_on = manifests.enabled(ctx)
    built = manifests.wanted(ctx)
    for component in switched_on:
        path = manifest_path(component.file)
        if component.download is not None:
            url, sha256 = component.download(ctx.cfg)
            verified_download(name=f"{component.file}.yaml (downloaded)", src=url, dest=path, sha256=sha256,
                              known=known[path], mode="600")
        elif component.file in built:
            text = manifests.dump(built[component.file])
            if not held_back(component.file, text, known[path], paused):
                file_in_place(name=f"{component.file}.yaml", dest=path, content=text, known=known[path])
    for component in manifests.COMPONENTS:
        if component not in switched_on:
            manifest_removed(name=f"{component.file}.yaml switched off", path=manifest_path(component.file),
                             present=known[manifest_path(component.file)] is not None)
    if ctx.cfg.gateway_tls:
        fetched_file(name="Gateway root CA (on this machine)", remote=gateway.ROOT_CERT,
                     local=str(client_setup.gateway_root_ca(ctx.cfg, host.name)), known=known[gateway.ROOT_CERT])
