"""Host keys this machine has pinned for a device (in the known_hosts file pyinfra
checks against), so that a phone verifies the same keys when it calls that device."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from paramiko.hostkeys import HostKeys

if TYPE_CHECKING:
    from paramiko.pkey import PKey

    from homelab.settings import Common


def _field(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def pinned_lines(cfg: Common, host_name: str, as_address: str) -> list[str]:
    """The keys pinned for the device (looked up as pyinfra reaches it: ssh_hostname),
    as known_hosts lines for `as_address`, the address another device calls it by.
    Empty when nothing is pinned."""
    known = Path(cfg.ssh_known_hosts_file or "~/.ssh/known_hosts").expanduser()
    if not known.is_file():
        return []
    # paramiko reads the file as pyinfra's connector does, hashed (|1|...) entries included;
    # in-process, as ssh-keygen -F in a subprocess costs a third of a second under gevent
    keys: Mapping[str, PKey] = HostKeys(str(known)).lookup(_field(cfg.ssh_hostname or host_name, cfg.ssh_port)) or {}
    # the phone's file is for this device only: plain entries
    return [f"{_field(as_address, cfg.ssh_port)} {key_type} {key.get_base64()}" for key_type, key in keys.items()]
