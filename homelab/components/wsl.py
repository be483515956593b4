"""WSL2 preparation: /etc/wsl.conf with systemd, the Windows-side script, and a stop
with the fix when systemd is not PID 1 yet. Does nothing on a host that is not WSL2."""

from pyinfra import host, logger
from pyinfra.api import deploy

from homelab.facts import HostProfile
from homelab.k3s import server_host
from homelab.operations import ManagedFile, files_in_place, local_file, stop_host
from homelab.rendering import render
from homelab.validation import settings_for


def is_wsl(cfg, profile) -> bool:
    return profile["wsl"] if cfg.wsl is None else cfg.wsl


def windows_ports(cfg) -> dict[str, int]:
    """The ports the LAN must reach inside WSL, by what they are for."""
    ports = {"SSH": cfg.ssh_port, "Kubernetes API": cfg.k3s_api_port}
    if host.name == server_host().name:
        ports["API gateway"] = cfg.gateway_port
        if cfg.open_webui_enabled:
            ports["Open WebUI"] = cfg.open_webui_port
    return ports


def systemd_missing_reason(profile) -> str | None:
    if profile.get("init") == "systemd":
        return None
    return (f"systemd is not PID 1 in WSL yet (PID 1 is {profile.get('init') or 'unknown'}); /etc/wsl.conf now "
            "enables it: run `wsl --shutdown` in Windows PowerShell, start the distribution again, then re-run")


@deploy("WSL2")
def wsl() -> bool:
    """Returns False when the run must stop for this host (systemd not PID 1 yet)."""
    cfg = settings_for(host)
    profile = host.get_fact(HostProfile)
    if not is_wsl(cfg, profile):
        return True
    conf_file = ManagedFile("/etc/wsl.conf: systemd, hostname", "/etc/wsl.conf",
                            render("wsl", "wsl.conf.j2", hostname=host.name))
    conf = files_in_place(conf_file)[conf_file]
    ports = windows_ports(cfg)
    local_file(name="Windows setup script (on this machine)",
               path=f"{cfg.client_files_dir}/{host.name}/windows-setup.ps1",
               content=render("wsl", "windows-setup.ps1.j2", host_name=host.name, distribution=cfg.wsl_distribution,
                              lan_address=cfg.lan_address, ssh_port=cfg.ssh_port, ports=list(ports.values()),
                              port_names=[f"{name} {port}" for name, port in ports.items()]))
    reason = systemd_missing_reason(profile)
    if reason:
        stop_host(name="systemd must be PID 1", reason=reason)
        return False
    if conf.will_change:
        logger.warning(f"{host.print_prefix}/etc/wsl.conf changes: it takes effect after `wsl --shutdown` on Windows")
    return True
