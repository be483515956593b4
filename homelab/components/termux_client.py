"""A phone with Termux: packages from Termux's own package manager, the API's env file
(mode 0600) sourced by the shell, aichat configured with the catalogue's models, and
Termux:Widget shortcuts. Runs as the Termux user: no root, no sudo, no systemd; temp
files go to $TMPDIR (under $PREFIX)."""

from typing import Any, TypedDict

from pyinfra.api.inventory import Inventory
from pyinfra.context import host

from homelab import client_setup, devices, gpu_mode, host_state, k3s, known_hosts, wake_tool, watcher
from homelab.components import deploy
from homelab.host_settings import secrets_store, settings_for
from homelab.host_state import Query, Snapshot
from homelab.operations.files import ManagedFile, directory_in_place, file_absent, file_merged, files_in_place, line_set
from homelab.operations.local import local_directory
from homelab.operations.packages import termux_packages
from homelab.rendering import render
from homelab.settings import DebianHost, GpuNode, LePotato, TermuxPhone

PREFIX = "/data/data/com.termux/files/usr"
HOME = "/data/data/com.termux/files/home"
ENV_FILE = f"{HOME}/.config/homelab/openai.env"
TUNNEL_CONFIG = f"{HOME}/.config/homelab/wireguard.conf"
REMOTE_KEY = f"{HOME}/.ssh/homelab_remote"
REMOTE_KNOWN_HOSTS = f"{HOME}/.ssh/homelab_known_hosts"
BASHRC = f"{HOME}/.bashrc"
AICHAT_CONFIG = f"{HOME}/.config/aichat/config.yaml"
DIRECTORIES = [f"{HOME}/{d}" for d in (".config/homelab", ".config/aichat", ".shortcuts", ".ssh")]
LOCAL_WIDGETS = ("ask-lab", "lab-health")
# Every widget the owner's phone may get; those its lab does not offer (no wol_mac, no
# watcher) are removed, like all of them from a phone that is not the owner's.
REMOTE_WIDGETS = (*(f"lab-{verb}" for verb in gpu_mode.VERBS), "lab-wake", "lab-alerts")


class _Ownership(TypedDict):
    """ManagedFile's mode, user and group."""

    mode: str
    user: str | None
    group: str | None


# Termux has one user: files keep the owner they are made with
PRIVATE: _Ownership = {"mode": "600", "user": None, "group": None}
EXECUTABLE: _Ownership = {"mode": "700", "user": None, "group": None}


host_state.reads(TermuxPhone, Query(
    files={ENV_FILE, TUNNEL_CONFIG, AICHAT_CONFIG, REMOTE_KEY, REMOTE_KNOWN_HOSTS,
           *(f"{HOME}/.shortcuts/{name}" for name in (*LOCAL_WIDGETS, *REMOTE_WIDGETS))},
    dirs=set(DIRECTORIES), contents={BASHRC}, termux_packages=True))


@deploy("Termux client")
def termux_client() -> None:
    client = client_setup.client_for(host, TermuxPhone)
    if client is None:
        return
    cfg, token, base_url = client.cfg, client.token, client.base_url
    state = host_state.snapshot(host)
    # the owner's phone calls the lab's hosts over SSH for its game-mode widgets
    termux_packages(name="Termux packages", packages=[*cfg.termux_packages, *(["openssh"] if cfg.owner_device else [])],
                    installed=state.termux_packages)
    for directory in DIRECTORIES[:3] + (DIRECTORIES[3:] if cfg.owner_device else []):
        directory_in_place(name=f"~/{directory.removeprefix(HOME + '/')}", path=directory, mode="700",
                           known=state.dirs[directory])
    env_file = client_setup.env_file(base_url, token, client_setup.away_env(host))
    files_in_place(ManagedFile("API env file", ENV_FILE, env_file, **PRIVATE), known=state.files)
    tunnel_config(client.device, state)
    source_line = f"[ -f {ENV_FILE} ] && . {ENV_FILE}"
    file_merged(name="Shell loads the env file", dest=BASHRC, current=state.contents[BASHRC],
                content=line_set(state.contents[BASHRC], source_line, lambda line: line.strip() == source_line))
    aichat = client_setup.aichat_config(base_url, token, client.models, cfg.default_model)
    files_in_place(ManagedFile("aichat config", AICHAT_CONFIG, aichat, **PRIVATE),
                   *(ManagedFile(f"Widget {widget}", f"{HOME}/.shortcuts/{widget}",
                                 render("clients", f"{widget}.j2", shell=f"{PREFIX}/bin/bash", env_file=ENV_FILE,
                                        model=cfg.default_model), **EXECUTABLE)
                     for widget in LOCAL_WIDGETS), known=state.files)
    owner_widgets(cfg, state)


def tunnel_config(device: str, state: Snapshot) -> None:
    """The phone's WireGuard config, on the phone (for the WireGuard app's import from a
    file) and as a file and QR code in its folder on this machine; none without a tunnel."""
    config = client_setup.tunnel_config(host, device)
    folder = f"{settings_for(host).client_files_dir}/{device}"
    if config is None:
        file_absent(name="No WireGuard config", path=TUNNEL_CONFIG, known=state.file(TUNNEL_CONFIG))
    else:
        files_in_place(ManagedFile("WireGuard config", TUNNEL_CONFIG, config, **PRIVATE), known=state.files)
        local_directory(name="Device folder", path=folder, mode=0o700)
    client_setup.tunnel_files(host, device, folder)  # without a tunnel: its files there removed


def remote_widgets(inventory_: Inventory) -> dict[str, dict[str, Any]]:
    """Widget name -> what it calls: pause, resume and status on the k3s server's
    homelab-gpu account; wake on the Le Potato's homelab-wake account (when the PC has a
    wol_mac); what fires now on its homelab-alerts account (when it keeps watch)."""
    server = k3s.server_host(inventory_)
    server_cfg = settings_for(server, GpuNode)
    widgets = {f"lab-{verb}": {"target": server, "account": gpu_mode.ACCOUNT, "command": verb,
                               "what": f"{verb} the AI side (game mode)"} for verb in gpu_mode.VERBS}
    potatoes = inventory_.get_group("le_potato", [])
    if potatoes and server_cfg.wol_mac:
        widgets["lab-wake"] = {"target": potatoes[0], "account": wake_tool.ACCOUNT, "command": server.name,
                               "what": f"wake the PC of {server.name} (Wake-on-LAN from the Le Potato)"}
    if potatoes and settings_for(potatoes[0], LePotato).watcher_enabled:
        widgets["lab-alerts"] = {"target": potatoes[0], "account": watcher.ACCOUNT, "command": "firing",
                                 "what": "what fires now on the lab's watcher (the Le Potato)"}
    return widgets


def owner_widgets(cfg: TermuxPhone, state: Snapshot) -> None:
    """The owner's phone: a key that can only pause, resume, ask and wake, and a widget each.
    Any other phone has none of them (they are removed if it once had)."""
    widgets = remote_widgets(host.inventory)
    if not cfg.owner_device:
        for path in [REMOTE_KEY, REMOTE_KNOWN_HOSTS, *(f"{HOME}/.shortcuts/{name}" for name in REMOTE_WIDGETS)]:
            file_absent(name=f"Not the owner's phone: no {path.rsplit('/', 1)[1]}", path=path,
                        known=state.file(path))
        return
    for name in REMOTE_WIDGETS:
        if name not in widgets:
            path = f"{HOME}/.shortcuts/{name}"
            file_absent(name=f"Widget {name}: not offered by this lab", path=path, known=state.file(path))
    key = gpu_mode.remote_key(secrets_store(host), devices.device_name(host))
    managed = [ManagedFile("Game-mode key (pause, resume, status, wake only)", REMOTE_KEY,
                           key.private, **PRIVATE)]
    pinned = sorted({line for w in widgets.values() for line in known_hosts.pinned_lines(
        settings_for(w["target"]), w["target"].name, settings_for(w["target"], DebianHost).lan_address)})
    managed.append(ManagedFile("Host keys of the GPU node and the Le Potato", REMOTE_KNOWN_HOSTS,
                               "\n".join(pinned) + "\n", **PRIVATE))
    for name, widget in widgets.items():
        target = settings_for(widget["target"])
        script = render("clients", "lab-remote.j2", shell=f"{PREFIX}/bin/bash", key=REMOTE_KEY,
                        known_hosts=REMOTE_KNOWN_HOSTS, port=target.ssh_port, account=widget["account"],
                        address=target.lan_address, target=widget["target"].name, command=widget["command"],
                        what=widget["what"])
        managed.append(ManagedFile(f"Widget {name}", f"{HOME}/.shortcuts/{name}", script, **EXECUTABLE))
    files_in_place(*managed, known=state.files)
