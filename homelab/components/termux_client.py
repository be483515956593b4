"""A phone with Termux: packages from Termux's own package manager, the API's env file
(mode 0600) sourced by the shell, aichat configured with the catalogue's models, and
Termux:Widget shortcuts. Runs as the Termux user: no root, no sudo, no systemd; temp
files go to $TMPDIR (under $PREFIX)."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from homelab import clients, devices, gpu_mode, k3s, known_hosts, wake
from homelab.operations import secret_file, termux_packages
from homelab.paths import template
from homelab.rendering import render
from homelab.secrets import Secret
from homelab.secrets_access import store_for
from homelab.validation import settings_for

PREFIX = "/data/data/com.termux/files/usr"
HOME = "/data/data/com.termux/files/home"
ENV_FILE = f"{HOME}/.config/homelab/openai.env"
REMOTE_KEY = f"{HOME}/.ssh/homelab_remote"
REMOTE_KNOWN_HOSTS = f"{HOME}/.ssh/homelab_known_hosts"


@deploy("Termux client")
def termux_client():
    cfg = settings_for(host)
    token = clients.device_token(host)
    if token is None:
        return
    base_url = clients.api_base_url()
    # the owner's phone calls the lab's hosts over SSH for its game-mode widgets
    termux_packages(name="Termux packages", packages=[*cfg.termux_packages, *(["openssh"] if cfg.owner_device else [])])
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
    owner_widgets(cfg)


def remote_widgets(inventory_) -> dict[str, dict]:
    """Widget name -> what it calls: pause, resume and status on the k3s server's
    homelab-gpu account; wake on the Le Potato's homelab-wake account (when the PC has a
    wol_mac)."""
    server = k3s.server_host(inventory_)
    server_cfg = settings_for(server)
    widgets = {f"lab-{verb}": {"target": server, "account": gpu_mode.ACCOUNT, "command": verb,
                               "what": f"{verb} the AI side (game mode)"} for verb in gpu_mode.VERBS}
    potatoes = inventory_.get_group("le_potato", [])
    if potatoes and server_cfg.wol_mac:
        widgets["lab-wake"] = {"target": potatoes[0], "account": wake.ACCOUNT, "command": server.name,
                               "what": f"wake the PC of {server.name} (Wake-on-LAN from the Le Potato)"}
    return widgets


def owner_widgets(cfg) -> None:
    """The owner's phone: a key that can only pause, resume, ask and wake, and a widget each.
    Any other phone has none of them (they are removed if it once had)."""
    widgets = remote_widgets(host.inventory)
    if not cfg.owner_device:
        for path in [REMOTE_KEY, REMOTE_KNOWN_HOSTS, *(f"{HOME}/.shortcuts/{name}" for name in widgets)]:
            files.file(name=f"Not the owner's phone: no {path.rsplit('/', 1)[1]}", path=path, present=False)
        return
    files.directory(name="~/.ssh", path=f"{HOME}/.ssh", mode="700")
    key = gpu_mode.remote_key(store_for(host), devices.device_name(host))
    secret_file(name="Game-mode key (pause, resume, status, wake only)", dest=REMOTE_KEY,
                content=Secret(key.private.reveal()))
    pinned = sorted({line for w in widgets.values() for line in known_hosts.pinned_lines(
        settings_for(w["target"]), w["target"].name, settings_for(w["target"]).lan_address)})
    files.put(name="Host keys of the GPU node and the Le Potato", src=StringIO("\n".join(pinned) + "\n"),
              dest=REMOTE_KNOWN_HOSTS, mode="600")
    for name, widget in widgets.items():
        target = settings_for(widget["target"])
        script = render("clients", "lab-remote.j2", shell=f"{PREFIX}/bin/bash", key=REMOTE_KEY,
                        known_hosts=REMOTE_KNOWN_HOSTS, port=target.ssh_port, account=widget["account"],
                        address=target.lan_address, target=widget["target"].name, command=widget["command"],
                        what=widget["what"])
        files.put(name=f"Widget {name}", src=StringIO(script), dest=f"{HOME}/.shortcuts/{name}", mode="700")
