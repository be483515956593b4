"""The one place that builds an ssh command line for the tools around the deploys
(doctor, backup, bench): the same address, port, user, key and pinned host keys as
pyinfra uses, no prompts, and `--` before the destination so that no inventory value can
be read as an option."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from homelab.settings import Common


def ssh_command(cfg: Common, host_name: str, remote: str) -> list[str]:
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=8", "-o", "LogLevel=ERROR",
           "-o", f"StrictHostKeyChecking={cfg.ssh_strict_host_key_checking}", "-p", str(cfg.ssh_port)]
    if cfg.ssh_key:
        cmd += ["-i", cfg.ssh_key]
    if cfg.ssh_known_hosts_file:
        cmd += ["-o", f"UserKnownHostsFile={cfg.ssh_known_hosts_file}"]
    target = cfg.ssh_hostname or host_name
    return [*cmd, "--", f"{cfg.ssh_user}@{target}" if cfg.ssh_user else target, remote]


def sudo_prefix(cfg: Common) -> str:
    """What goes before a remote command that needs root: `sudo -n ` where the inventory's
    user is not root (`_sudo`), never a password prompt."""
    return "sudo -n " if cfg.sudo else ""
