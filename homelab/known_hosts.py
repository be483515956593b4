"""Host keys this machine has pinned for a device (in the known_hosts file pyinfra
checks against), so that a phone verifies the same keys when it calls that device."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _field(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def pinned_lines(cfg, host_name: str, as_address: str) -> list[str]:
    """The keys pinned for the device (looked up as pyinfra reaches it: ssh_hostname),
    as known_hosts lines for `as_address`, the address another device calls it by.
    Empty when nothing is pinned."""
    lookup = _field(cfg.ssh_hostname or host_name, cfg.ssh_port)
    known = Path(cfg.ssh_known_hosts_file or "~/.ssh/known_hosts").expanduser()
    if not known.is_file():
        return []
    proc = subprocess.run(["ssh-keygen", "-F", lookup, "-f", str(known)], capture_output=True, text=True, timeout=30)
    lines = []
    for line in proc.stdout.splitlines():
        fields = line.split()
        if line.startswith("#") or len(fields) < 3:
            continue
        # hashed entries (|1|...) become plain: the phone's file is for this device only
        lines.append(" ".join([_field(as_address, cfg.ssh_port), *fields[1:3]]))
    return lines
