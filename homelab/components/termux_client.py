"""A phone with Termux: packages from Termux's own package manager, the API's env file
(mode 0600) sourced by the shell, aichat configured with the catalogue's models, and
Termux:Widget shortcuts. Runs as the Termux user: no root, no sudo, no systemd; temp
files go to $TMPDIR (under $PREFIX)."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from homelab import clients
from homelab.operations import secret_file, termux_packages
from homelab.paths import template
from homelab.validation import settings_for

PREFIX = "/data/data/com.termux/files/usr"
HOME = "/data/data/com.termux/files/home"
ENV_FILE = f"{HOME}/.config/homelab/openai.env"


@deploy("Termux client")
def termux_client():
    cfg = settings_for(host)
    token = clients.device_token(host)
    if token is None:
        return
    base_url = clients.api_base_url()
    termux_packages(name="Termux packages", packages=cfg.termux_packages)
    for directory in (".config/homelab", ".config/aichat", ".shortcuts"):
        files.directory(name=f"~/{directory}", path=f"{HOME}/{directory}", mode="700")
    secret_file(name="API env file", dest=ENV_FILE, content=clients.env_file(base_url, token))
    files.line(name="Shell loads the env file", path=f"{HOME}/.bashrc",
               line=f"[ -f {ENV_FILE} ] && . {ENV_FILE}", escape_regex_characters=True)
    secret_file(name="aichat config", dest=f"{HOME}/.config/aichat/config.yaml",
                content=clients.aichat_config(base_url, token, clients.enabled_models(cfg), cfg.default_model))
    for widget in ("ask-lab", "lab-health"):
        files.template(name=f"Widget {widget}", src=template("clients", f"{widget}.j2"),
                       dest=f"{HOME}/.shortcuts/{widget}", mode="700", shell=f"{PREFIX}/bin/bash", env_file=ENV_FILE,
                       model=cfg.default_model)
