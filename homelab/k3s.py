"""What the k3s components share: paths, unit names, and who is server or agent.

The first host of the gpu_nodes group is the k3s server; every other one joins it as
an agent, using the cluster token from the secrets store.
"""

from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.context import inventory

from homelab.host_settings import settings_for
from homelab.settings import Common, GpuNode

BINARY = "/usr/local/bin/k3s"
CONFIG_DIR = "/etc/rancher/k3s"
CONFIG = f"{CONFIG_DIR}/config.yaml"
TOKEN_FILE = f"{CONFIG_DIR}/cluster-token"
KUBECONFIG = f"{CONFIG_DIR}/k3s.yaml"
IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests"
TOKEN_SECRET = "k3s_token"


GPU_NODES = "gpu_nodes"


def gpu_nodes(inventory_: Inventory | None = None) -> list[Host]:
    """The cluster's nodes, server first (of `inventory_`; default: the running deploy's)."""
    return list((inventory_ or inventory).get_group(GPU_NODES, []))


def server_host(inventory_: Inventory | None = None) -> Host:
    """The k3s server: the first GPU node."""
    nodes = gpu_nodes(inventory_)
    if not nodes:
        raise LookupError("the inventory has no gpu_nodes group: the k3s server is its first host")
    return nodes[0]


def role(host: Host) -> str:
    return "server" if host.name == server_host(host.inventory).name else "agent"


def is_server(host: Host, _cfg: object = None) -> bool:
    """The k3s server? (Takes a host's settings too, to serve as a probe's `when`.)"""
    return role(host) == "server"


def unit(host: Host) -> str:
    return "k3s" if role(host) == "server" else "k3s-agent"


def server_url() -> str:
    cfg = settings_for(server_host(), GpuNode)
    return f"https://{cfg.lan_address}:{cfg.k3s_api_port}"


def context_name(cfg: Common, node_name: str) -> str:
    """The node's context in the control machine's kubeconfig."""
    return f"{cfg.site_name}-{node_name}"
