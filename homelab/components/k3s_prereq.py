"""Everything k3s reads when it starts, written before it starts: config.yaml rendered
from group data (server or agent) and the cluster token from the secrets store."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from homelab import k3s
from homelab.operations import secret_file
from homelab.paths import template
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
    token = secret_file(name="Cluster token", dest=k3s.TOKEN_FILE, content=store_for(host).get(k3s.TOKEN_SECRET))
    config = files.template(
        name=f"config.yaml ({role})", src=template("k3s", "config.yaml.j2"), dest=k3s.CONFIG, mode="600",
        role=role, kubeconfig_mode=cfg.k3s_write_kubeconfig_mode, api_port=cfg.k3s_api_port,
        tls_san=tls_sans(cfg, host.name), disable=cfg.k3s_disable, server_url=k3s.server_url(),
        token_file=k3s.TOKEN_FILE, node_ip=cfg.lan_address)
    return [token, config]
