"""Everything k3s reads when it starts, written before it starts: config.yaml built from
group data (server or agent) and the cluster token from the secrets store."""

from typing import Any

import yaml
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host

from homelab import host_state, k3s
from homelab.components import deploy
from homelab.guards import refuse
from homelab.host_settings import secrets_store, settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.secrets_store import SecretsStore
from homelab.settings import GpuNode
from homelab.stack.device_plugin import CONFIG_LABEL, config_name

HEADER = ("# Managed by homelab (pyinfra): k3s reads this when it starts, and the deploy restarts\n"
          "# k3s when it changes. Change group_data/gpu_nodes.py instead.\n")


def tls_sans(cfg: GpuNode, name: str) -> list[str]:
    return list(dict.fromkeys([name, cfg.lan_address, *cfg.k3s_extra_tls_san]))


def config_yaml(cfg: GpuNode, name: str, role: str) -> dict[str, Any]:
    """k3s's flags as config.yaml keys. Dumped by YAML, never templated: no value can
    break out of its key."""
    config: dict[str, Any] = {}
    if role == "server":
        config.update({"write-kubeconfig-mode": cfg.k3s_write_kubeconfig_mode, "https-listen-port": cfg.k3s_api_port,
                       "tls-san": tls_sans(cfg, name), "cluster-cidr": cfg.k3s_cluster_cidr})
        if cfg.k3s_disable:
            config["disable"] = list(cfg.k3s_disable)
    else:
        config["server"] = k3s.server_url()
    config.update({
        "token-file": k3s.TOKEN_FILE,
        # the stack pins pods to nodes by this name (kubernetes.io/hostname)
        "node-name": name,
        "node-ip": cfg.lan_address,
        # containers run with NVIDIA's runtime, which k3s finds at start
        "default-runtime": "nvidia",
        # NFD cannot see the GPU behind WSL2's /dev/dxg: the device plugin is told by hand,
        # and which time-slicing config is this node's. No taints: one node runs everything.
        "node-label": ["nvidia.com/gpu.present=true", f"{CONFIG_LABEL}={config_name(name)}"],
    })
    return config


def foreign_cluster_reason(store: SecretsStore, token_state: dict[str, Any] | None) -> str | None:
    """A host that already has a cluster token while this machine's secrets store has none
    was set up from another machine (or the store was lost): a new token would split the
    cluster from its agents and its data. Stop and say how to bring the store along."""
    if token_state is None or store.stored(k3s.TOKEN_SECRET):
        return None
    return (f"{k3s.TOKEN_FILE} exists but this machine's secrets store ({store.path}) has no {k3s.TOKEN_SECRET}: "
            "the cluster was set up from another machine or the store was lost. Fix: copy the secrets store from "
            "that machine (or `python tasks.py restore <backup>`); to keep the cluster and take its token: "
            f"`ssh <server> sudo cat {k3s.TOKEN_FILE} | python tasks.py secrets set {k3s.TOKEN_SECRET}`")


host_state.reads(GpuNode, Query(files={k3s.TOKEN_FILE, k3s.CONFIG}, dirs={k3s.CONFIG_DIR}))


@deploy("k3s config")
def k3s_config() -> list[OperationMeta] | None:
    """Returns the operations whose change must restart k3s (None: the host was refused)."""
    cfg = settings_for(host, GpuNode)
    role = k3s.role(host)
    store = secrets_store(host)
    state = host_state.snapshot(host)
    known = state.files
    reason = foreign_cluster_reason(store, known[k3s.TOKEN_FILE])
    if reason:
        refuse(reason)
        return None
    directory_in_place(name="Config directory", path=k3s.CONFIG_DIR, mode="755", known=state.dirs[k3s.CONFIG_DIR])
    placed = files_in_place(
        ManagedFile("Cluster token", k3s.TOKEN_FILE, store.get_or_make(k3s.TOKEN_SECRET), mode="600"),
        ManagedFile(f"config.yaml ({role})", k3s.CONFIG, mode="600",
                    content=HEADER + yaml.safe_dump(config_yaml(cfg, host.name, role), sort_keys=False)),
        known=known,
    )
    return list(placed.values())
