"""Everything k3s reads when it starts, written before it starts: config.yaml rendered
from group data (server or agent) and the cluster token from the secrets store."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from homelab import k3s
from homelab.operations import ManagedFile, files_in_place
from homelab.rendering import render
from homelab.secrets_access import store_for
from homelab.validation import settings_for


def tls_sans(cfg, name: str) -> list[str]:
    return list(dict.fromkeys([name, cfg.lan_address, *cfg.k3s_extra_tls_san]))


@deploy("k3s prerequisites")
def k3s_prereq() -> list[OperationMeta]:
    """Returns the operations whose change must restart k3s."""
    cfg = settings_for(host)
    role = k3s.role(host)
    files.directory(name="Config directory", path=k3s.CONFIG_DIR, mode="755")
    placed = files_in_place(
        ManagedFile("Cluster token", k3s.TOKEN_FILE, store_for(host).get(k3s.TOKEN_SECRET), mode="600"),
        ManagedFile(f"config.yaml ({role})", k3s.CONFIG, mode="600", content=render(
            "k3s", "config.yaml.j2", role=role, kubeconfig_mode=cfg.k3s_write_kubeconfig_mode,
            api_port=cfg.k3s_api_port, tls_san=tls_sans(cfg, host.name), disable=cfg.k3s_disable,
            server_url=k3s.server_url(), token_file=k3s.TOKEN_FILE, node_ip=cfg.lan_address)),
    )
    return list(placed.values())
