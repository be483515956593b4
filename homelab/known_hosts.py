"""Host keys this machine has pinned for a device (in the known_hosts file pyinfra
checks against), so that a phone verifies the same keys when it calls that device."""

from __future__ import annotations

import subprocess
from pathlib import Path


def pinned_lines(cfg, host_name: str) -> list[str]:
    """known_hosts lines for the device, with the host field as ssh will look it up
    (`address` or `[address]:port`). Empty when nothing is pinned."""
    address = cfg.ssh_hostname or host_name
    lookup = address if cfg.ssh_port == 22 else f"[{address}]:{cfg.ssh_port}"
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
        lines.append(" ".join([lookup, *fields[1:3]]))
    return lines
