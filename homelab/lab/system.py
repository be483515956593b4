"""Small helpers the lab uses to drive the machine it runs on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypeGuard


class LabError(Exception):
    pass


def run(*cmd: str | os.PathLike[str], check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(map(str, cmd))}` failed ({proc.returncode}): "
                       f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def why_lab_cannot_run() -> str | None:
    """None when this machine can run the lab, else the reason."""
    if not sys.platform.startswith("linux"):
        return "the lab needs Linux (network namespaces, systemd-nspawn)"
    if os.geteuid() != 0:
        return "the lab needs root (it creates network namespaces and containers)"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"),
                          ("apt-cacher-ng", "apt-cacher-ng"), ("ip", "iproute2"), ("ssh", "openssh-client")):
        if not shutil.which(tool):
            return f"`{tool}` is missing: apt-get install {package}"
    return None


def wait_for_port(address: str, port: int, what: str, timeout: float = 10.0) -> None:
    """Return once something accepts TCP connections on address:port."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise LabError(f"{what} did not listen on {address}:{port}") from None
            time.sleep(0.1)


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of `pid`, to tell a recorded process from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_recorded_process_alive(record: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return record is not None and bool(record) and process_start_time(record["pid"]) == record["start_time"]


def spawn(cmd: list[str], log_file: Path) -> dict[str, Any]:
    """Start a long-running process in its own session; returns its record (pid, start time)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    for _ in range(50):
        started = process_start_time(proc.pid)
        if started is not None:
            return {"pid": proc.pid, "start_time": started, "cmd": cmd[0]}
        time.sleep(0.01)
    raise LabError(f"{cmd[0]} exited at once; see {log_file}")


def stop_recorded_process(record: dict[str, Any] | None, timeout: float = 15.0) -> None:
    """TERM, wait, then KILL the process of `record`, only if it is still that process."""
    if not is_recorded_process_alive(record):
        return
    pid = record["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_recorded_process_alive(record):
            return
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
