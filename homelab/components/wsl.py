"""WSL2 preparation: /etc/wsl.conf with systemd, the Windows user's .wslconfig (the keys
this project manages merged into the owner's own file, the rest left as it is), the
Windows-side script, and a stop with the fix when systemd is not PID 1 yet. Does nothing
on a host that is not WSL2."""

from __future__ import annotations

import re
from typing import Any

from pyinfra import logger
from pyinfra.context import host, inventory

from homelab import capacity, host_state, k3s
from homelab.components import deploy
from homelab.guards import refuse
from homelab.host_settings import settings_for
from homelab.host_state import Query, Snapshot
from homelab.operations.files import ManagedFile, file_merged, files_in_place
from homelab.operations.local import local_file
from homelab.operations.server import stop_host
from homelab.rendering import render
from homelab.settings import GpuNode, LePotato
from homelab.stack import monitoring

WSLCONFIG = ".wslconfig"
WSL_CONF = "/etc/wsl.conf"
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([^#;=\s][^=]*?)\s*=\s*(.*?)\s*$")


def windows_ports(cfg: GpuNode) -> dict[str, int]:
    """The ports the LAN must reach inside WSL, by what they are for."""
    ports = {"SSH": cfg.ssh_port, "Kubernetes API": cfg.k3s_api_port}
    if k3s.role(host) == "server":
        ports["API gateway"] = cfg.gateway_port
        if cfg.open_webui_enabled:
            ports["Open WebUI"] = cfg.open_webui_port
    return ports


def watcher_ports(cfg: GpuNode) -> tuple[dict[str, int], list[str]]:
    """The ports only the Le Potato's watcher may reach inside WSL, and its addresses."""
    server_cfg = settings_for(k3s.server_host(inventory), GpuNode)
    watchers = [c.lan_address for c in (settings_for(p, LePotato) for p in inventory.get_group("le_potato", []))
                if c.watcher_enabled]
    if not server_cfg.monitoring_enabled or not watchers:
        return {}, []
    ports = {"node exporter": monitoring.NODE_EXPORTER_PORT}
    if k3s.role(host) == "server":  # the gateway's /federate door (its own checks: address and token)
        ports["the cluster's figures"] = cfg.gateway_metrics_port
    return ports, watchers


def systemd_missing_reason(profile: dict[str, Any]) -> str | None:
    if profile.get("init") == "systemd":
        return None
    return (f"systemd is not PID 1 in WSL yet (PID 1 is {profile.get('init') or 'unknown'}); /etc/wsl.conf now "
            "enables it: run `wsl --shutdown` in Windows PowerShell, start the distribution again, then re-run")


def wslconfig_settings(node_plan: capacity.NodePlan) -> dict[str, dict[str, str]]:
    """What this project sets in .wslconfig, by section."""
    return {
        # mirrored: the LAN reaches WSL on the PC's own address (Windows 11 22H2 or newer);
        # no idle shutdown; memory, processors and swap from the RAM and CPU plan
        "wsl2": {"networkingMode": "mirrored", "vmIdleTimeout": "-1", **node_plan.wslconfig()},
        # memory the AI side frees (engines paused for a game) goes back to Windows
        "experimental": {"autoMemoryReclaim": "gradual"},
    }


def merge_ini(text: str | None, settings: dict[str, dict[str, str]]) -> str:
    """`text` with these keys set in these sections; every other line as it was. Keys and
    sections match case-insensitively, as WSL reads them; a key already at its value is
    left as written. New keys go at the end of their section, new sections at the end."""
    text = text or ""
    newline = "\r\n" if "\r\n" in text or not text else "\n"
    lines = text.splitlines()
    wanted = {section.lower(): {key.lower(): (key, value) for key, value in keys.items()}
              for section, keys in settings.items()}
    seen: set[tuple[str, str]] = set()
    last_line_of: dict[str, int] = {}
    section = None
    out: list[str] = []
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip().lower()
            out.append(line)
            last_line_of[section] = len(out) - 1
            continue
        pair = _KEY.match(line)
        if section in wanted and pair and pair.group(1).lower() in wanted[section]:
            key, value = wanted[section][pair.group(1).lower()]
            seen.add((section, key.lower()))
            out.append(line if pair.group(2) == value else f"{key}={value}")
        else:
            out.append(line)
        if section is not None and line.strip():
            last_line_of[section] = len(out) - 1
    # insert from the bottom up: the indexes of sections above stay valid
    for name in sorted((n for n in wanted if n in last_line_of), key=lambda n: -last_line_of[n]):
        missing = [f"{key}={value}" for lower, (key, value) in wanted[name].items() if (name, lower) not in seen]
        if missing:
            at = last_line_of[name] + 1
            out[at:at] = missing
    for name, keys in wanted.items():
        if name not in last_line_of:
            if out and out[-1].strip():
                out.append("")
            out.append(f"[{next(s for s in settings if s.lower() == name)}]")
            out += [f"{key}={value}" for key, value in keys.values()]
    return newline.join(out) + newline


host_state.reads(GpuNode, lambda host_, cfg: Query(files={WSL_CONF}, wsl_profiles=cfg.windows_profile_dir or "detect"),
                 when=lambda host_, cfg: cfg.wsl is not False)


def _wslconfig(cfg: GpuNode, state: Snapshot) -> bool:
    profiles = state.wsl_profiles
    if len(profiles) != 1:
        found = ", ".join(sorted(profiles)) or "none"
        refuse(f"cannot tell which Windows user's .wslconfig to manage (profile folders found: {found}): set "
               "windows_profile_dir for this host in inventory.py, e.g. \"/mnt/c/Users/<your Windows user>\"")
        return False
    (profile, current), = profiles.items()
    node_plan = capacity.plan_for(inventory)[host.name]
    merged = file_merged(name=f"{WSLCONFIG}: networking, memory, processors, swap (merged into yours)",
                         dest=f"{profile}/{WSLCONFIG}", current=current,
                         content=merge_ini(current, wslconfig_settings(node_plan)))
    if merged.will_change:
        logger.warning(f"{host.print_prefix}{WSLCONFIG} changes: it takes effect after `wsl --shutdown` on Windows")
    return True


@deploy("WSL2")
def wsl() -> bool:
    """Returns False when the run must stop for this host (systemd not PID 1 yet)."""
    cfg = settings_for(host, GpuNode)
    state = host_state.snapshot(host)
    profile = state.profile
    if not host_state.is_wsl(cfg, profile):
        return True
    conf_file = ManagedFile("/etc/wsl.conf: systemd, hostname", WSL_CONF,
                            render("wsl", "wsl.conf.j2", hostname=host.name))
    conf = files_in_place(conf_file, known=state.files)[conf_file]
    if not _wslconfig(cfg, state):
        return False
    ports = windows_ports(cfg)
    for_watcher, watchers = watcher_ports(cfg)
    local_file(name="Windows setup script (on this machine)",
               path=f"{cfg.client_files_dir}/{host.name}/windows-setup.ps1",
               content=render("wsl", "windows-setup.ps1.j2", host_name=host.name, distribution=cfg.wsl_distribution,
                              lan_address=cfg.lan_address, ssh_port=cfg.ssh_port, ports=list(ports.values()),
                              port_names=[f"{name} {port}" for name, port in ports.items()],
                              watcher_ports=list(for_watcher.values()), watchers=watchers,
                              watcher_port_names=[f"{name} {port}" for name, port in for_watcher.items()],
                              game_mode=k3s.role(host) == "server", games=cfg.game_executables,
                              watch_seconds=cfg.game_watch_seconds))
    reason = systemd_missing_reason(profile)
    if reason:
        stop_host(name="systemd must be PID 1", reason=reason)
        return False
    if conf.will_change:
        logger.warning(f"{host.print_prefix}/etc/wsl.conf changes: it takes effect after `wsl --shutdown` on Windows")
    return True
