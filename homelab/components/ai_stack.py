"""The AI hosting stack, written into k3s's auto-deploy directory on the k3s server:
k3s applies the files and its Helm controller installs and keeps the releases. A
component switched off in group data is deleted from the cluster first, then its file
removed (k3s does not delete what a removed file created)."""

import hashlib

from pyinfra import host, inventory, logger
from pyinfra.api import deploy

from homelab import clients, devices, gpu_mode, host_state, k3s
from homelab.guards import refuse
from homelab.host_state import Query
from homelab.operations import directory_in_place, fetched_file, file_in_place, manifest_removed, verified_download
from homelab.settings import GpuNode
from homelab.secrets import Secret
from homelab.secrets_access import store_for
from homelab.stack import gateway, manifests
from homelab.stack.common import StackContext
from homelab.host_settings import settings_for


def stack_context(host_, inventory_) -> StackContext:
    """The stack as the k3s server `host_` runs it, for every GPU node of `inventory_`."""
    store = store_for(host_)
    exporters = []
    for potato in inventory_.get_group("le_potato", []):
        potato_cfg = settings_for(potato)
        exporters.append(f"{potato_cfg.node_exporter_address}:{potato_cfg.node_exporter_port}")
    tokens = devices.active_tokens(store, devices.api_devices(inventory_))
    digest = hashlib.sha256("\n".join(f"{d}:{t}" for d, t in sorted(tokens.items())).encode()).hexdigest()
    nodes = {host_.name: settings_for(host_)}
    nodes.update({node.name: settings_for(node) for node in inventory_.get_group("gpu_nodes", [])
                  if node.name != host_.name})
    return StackContext(nodes=nodes, node_exporters=exporters, has_hf_token=store.has("hf_token"),
                        api_devices=sorted(tokens), tokens_digest=digest)


# Keys the stack makes on its first deploy; the cluster and every client hold them after.
GENERATED_KEYS = ["vllm_api_key", "litellm_master_key"]


def manifest_path(name: str) -> str:
    return f"{k3s.MANIFESTS_DIR}/{name}.yaml"


@host_state.wants
def _(host_, cfg) -> Query | None:
    if not isinstance(cfg, GpuNode) or k3s.role(host_) != "server":
        return None
    nodes = [node.name for node in host_.inventory.get_group("gpu_nodes")]
    return Query(files={*(manifest_path(name) for name in manifests.ALL_FILES), *gpu_mode.markers(nodes),
                        gateway.ROOT_CERT}, dirs={k3s.MANIFESTS_DIR})


def held_back(name: str, text: str, known: dict | None, paused: bool) -> bool:
    """While the GPU is lent to a game, a changed vLLM release is not handed to k3s: Helm
    would bring the engines back onto a GPU the game holds. It waits for the resume."""
    if not paused or name != vllm_manifest or known is None:
        return False
    if known["sha256"] == hashlib.sha256(text.encode()).hexdigest():
        return False
    logger.warning(f"{host.print_prefix}{name}.yaml changes, but the GPU is lent to a game (homelab-gpu pause): "
                   "held back until `python tasks.py gpu resume` and the next deploy")
    return True


vllm_manifest = "homelab-vllm"


@deploy("AI stack manifests")
def ai_stack(ctx: StackContext | None = None):
    ctx = ctx or stack_context(host, inventory)
    state = host_state.snapshot(host)
    directory_in_place(name="k3s auto-deploy directory", path=k3s.MANIFESTS_DIR, mode="700",
                       known=state.dirs[k3s.MANIFESTS_DIR])
    known = state.files
    markers = gpu_mode.markers(list(ctx.nodes))
    paused = any(known[marker] is not None for marker in markers)
    secrets_path = manifest_path(manifests.SECRETS_FILE)
    store = store_for(host)
    missing = [name for name in GENERATED_KEYS if not store.stored(name)]
    if known.get(secrets_path) is not None and missing:
        refuse(f"{secrets_path} exists but this machine's secrets store ({store.path}) has no {', '.join(missing)}: "
               "new keys would lock every client out. Fix: copy the secrets store from the machine that set up the "
               "cluster, or `python tasks.py restore <backup>`")
        return
    file_in_place(name=f"{manifests.SECRETS_FILE}.yaml (Secrets from the secrets store)", dest=secrets_path,
                  content=Secret(manifests.secrets_text(ctx, store)), known=known.get(secrets_path))
    wanted = manifests.wanted(ctx)
    for name, objects in wanted.items():
        text = manifests.dump(objects)
        if held_back(name, text, known.get(manifest_path(name)), paused):
            continue
        file_in_place(name=f"{name}.yaml", dest=manifest_path(name), content=text,
                      known=known.get(manifest_path(name)))
    if ctx.cfg.llm_d_enabled:
        verified_download(name="homelab-llm-d-crds.yaml (GAIE CRDs)", src=ctx.cfg.llm_d_crds_url,
                          dest=manifest_path("homelab-llm-d-crds"), sha256=ctx.cfg.llm_d_crds_sha256,
                          known=known[manifest_path("homelab-llm-d-crds")], mode="600")
        wanted["homelab-llm-d-crds"] = []
    for name in manifests.ALL_FILES:
        if name != manifests.SECRETS_FILE and name not in wanted:
            manifest_removed(name=f"{name}.yaml switched off", path=manifest_path(name),
                             present=known.get(manifest_path(name)) is not None)
    if ctx.cfg.gateway_tls:
        fetched_file(name="Gateway root CA (on this machine)", remote=gateway.ROOT_CERT,
                     local=str(clients.gateway_root_ca(ctx.cfg, host.name)), known=known[gateway.ROOT_CERT])
