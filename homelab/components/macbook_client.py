"""The MacBook as a client of its own lab: the API's env file (mode 0600) loaded by the
login shell, aichat's configuration, and its WireGuard config when the lab has a tunnel.
(Its kubeconfig context comes from the GPU node deploy.)"""

import os
import platform
import shlex

from pyinfra.context import host

from homelab import client_setup
from homelab.components import deploy
from homelab.operations.local import local_directory, local_file, local_file_absent, local_line
from homelab.settings import Macbook


@deploy("MacBook client")
def macbook_client() -> None:
    client = client_setup.client_for(host, Macbook)
    if client is None:
        return
    cfg, token, base_url = client.cfg, client.token, client.base_url
    home = os.path.abspath(os.path.expanduser(cfg.client_home))
    env_file = f"{home}/.config/homelab/openai.env"
    aichat_dir = f"{home}/.config/aichat"
    for directory in (f"{home}/.config/homelab", aichat_dir):
        local_directory(name=directory, path=directory, mode=0o700)
    # AICHAT_CONFIG_DIR: the same place on macOS as on Linux
    local_file(name="API env file", path=env_file, mode=0o600,
               content=client_setup.env_file(base_url, token,
                                             {"AICHAT_CONFIG_DIR": aichat_dir, **client_setup.away_env(host)}))
    # WireGuard for macOS: "Import tunnel(s) from file"
    tunnel = client_setup.tunnel_config(host, client.device)
    if tunnel is None:
        local_file_absent(name="No WireGuard config", path=f"{home}/.config/homelab/wireguard.conf")
    else:
        local_file(name="WireGuard config", path=f"{home}/.config/homelab/wireguard.conf", mode=0o600, content=tunnel)
    local_file(name="aichat config", path=f"{aichat_dir}/config.yaml", mode=0o600,
               content=client_setup.aichat_config(base_url, token, client.models, cfg.default_model))
    rc_file = ".zshrc" if platform.system() == "Darwin" else ".bashrc"
    local_line(name=f"~/{rc_file} loads the env file", path=f"{home}/{rc_file}",
               line=f"[ -f {shlex.quote(env_file)} ] && . {shlex.quote(env_file)}")
