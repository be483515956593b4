"""The lab's own apt proxy on this machine: lab hosts have no route out, so their apt
fetches through an apt-cacher-ng bound to the bridge address, with its Debian backend
pinned (an empty backends file answers `503 Host not found`). Its cache persists
across `lab down`, so later runs install packages without the network."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from homelab.lab.network import HOST_SIDE
from homelab.lab.rootfs import CACHE_DIR, MIRROR
from homelab.lab.system import spawn, wait_for_port

PORT = 3142


def url() -> str:
    return f"http://{HOST_SIDE}:{PORT}"


def start(state_dir: Path) -> dict[str, Any]:
    conf = state_dir / "apt-cacher-ng"
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree("/etc/apt-cacher-ng", conf)
    (conf / "backends_debian").write_text(f"{MIRROR}/\n")
    cache = CACHE_DIR / "apt-cacher-ng"
    logs = state_dir / "logs" / "apt-cacher-ng"
    for path in (cache, logs):
        path.mkdir(parents=True, exist_ok=True)
    record = spawn(["apt-cacher-ng", "-c", str(conf), "ForeGround=1", f"Port={PORT}", f"BindAddress={HOST_SIDE}",
                    f"CacheDir={cache}", f"LogDir={logs}", f"SocketPath={state_dir / 'apt-cacher-ng.socket'}",
                    f"PidFile={state_dir / 'apt-cacher-ng.pid'}",
                    # the stand-in mirror for NVIDIA's repository: port 8473, never cached
                    "AllowUserPorts=80 8473", f"DontCache={HOST_SIDE.replace('.', '[.]')}:8473"],
                   logs / "console.log")
    wait_for_port(HOST_SIDE, PORT, f"the lab's apt-cacher-ng (logs: {logs})")
    return record
