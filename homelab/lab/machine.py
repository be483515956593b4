"""One lab host: an overlay on the cached rootfs, booted by systemd-nspawn in its namespace.

Two kinds: `debian` stands in for the GPU node (WSL2 Ubuntu) and the Le Potato
(Armbian): the inventory's SSH user with passwordless sudo. `termux` stands in for a
phone: a non-root user whose home and $PREFIX are Termux's paths, sshd on the
inventory's port (8022), TMPDIR under $PREFIX, no sudo, no readable /etc/os-release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from homelab.lab.stand_ins import nspawn_gpu_args, write_gpu_stand_ins, write_termux_stand_ins
from homelab.lab.system import LabError, run, spawn, stop_recorded_process

HOSTS_DIR = Path("/var/lib/homelab-lab/hosts")
TERMUX_PREFIX = "/data/data/com.termux/files/usr"
TERMUX_HOME = "/data/data/com.termux/files/home"


@dataclass
class MachineSpec:
    name: str
    group: str
    kind: str  # "debian" or "termux"
    address: str
    ssh_port: int
    ssh_user: str
    netns: str
    veth: str
    gpu_stand_in: bool = False  # /dev/dxg and nvidia-smi stand-ins (GPU nodes)
    tun: bool = False  # /dev/net/tun bound in: wireguard-go (this kernel has no WireGuard module)

    @property
    def base(self) -> Path:
        return HOSTS_DIR / self.name

    @property
    def root(self) -> Path:
        return self.base / "root"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_mounted(path: Path) -> bool:
    return os.path.ismount(path)


def mount_overlay(spec: MachineSpec, rootfs: Path) -> None:
    for sub in ("upper", "work", "root"):
        (spec.base / sub).mkdir(parents=True, exist_ok=True)
    if not _is_mounted(spec.root):
        run("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={rootfs},upperdir={spec.base / 'upper'},workdir={spec.base / 'work'}", spec.root)


def unmount_and_wipe(spec: MachineSpec) -> None:
    if _is_mounted(spec.root):
        if run("umount", spec.root, check=False).returncode != 0:
            run("umount", "--lazy", spec.root)
    shutil.rmtree(spec.base, ignore_errors=True)


def _chroot(spec: MachineSpec, *cmd: str) -> subprocess.CompletedProcess[str]:
    return run("chroot", spec.root, *cmd)


def _ids(spec: MachineSpec, user: str) -> tuple[int, int]:
    out = _chroot(spec, "id", "-u", user).stdout.strip(), _chroot(spec, "id", "-g", user).stdout.strip()
    return int(out[0]), int(out[1])


def _write(path: Path, text: str, mode: int, owner: tuple[int, int] = (0, 0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    os.chown(path, *owner)


def provision(spec: MachineSpec, client_pubkey: str, host_key: Path) -> None:
    """Users, keys and sshd settings, written into the overlay before the first boot."""
    root = spec.root
    user = spec.ssh_user
    exists = user == "root" or run("chroot", root, "getent", "passwd", user, check=False).returncode == 0
    if spec.kind == "termux":
        home = TERMUX_HOME
        if not exists:
            (root / TERMUX_HOME.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            _chroot(spec, "useradd", "--home-dir", home, "--create-home", "--shell", "/bin/bash", user)
        uid_gid = _ids(spec, user)
        for sub in ("bin", "etc", "tmp", "var/lib", "share"):
            path = root / TERMUX_PREFIX.lstrip("/") / sub
            path.mkdir(parents=True, exist_ok=True)
        write_termux_stand_ins(root, TERMUX_PREFIX)
        _chroot(spec, "chown", "-R", "-h", f"{uid_gid[0]}:{uid_gid[1]}", "/data/data/com.termux")
        # Real Termux has no /etc/os-release: make it unreadable for the phone's user.
        os.chmod(root / "usr/lib/os-release", 0o600)
        sshd_extra = (f"SetEnv PREFIX={TERMUX_PREFIX} TMPDIR={TERMUX_PREFIX}/tmp "
                      f"PATH={TERMUX_PREFIX}/bin:/usr/bin:/bin\n")
    else:
        home = "/root" if user == "root" else f"/home/{user}"
        if not exists:
            _chroot(spec, "useradd", "--create-home", "--shell", "/bin/bash", user)
        if user != "root":
            _write(root / f"etc/sudoers.d/90-lab-{user}", f"{user} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
        uid_gid = _ids(spec, user)
        sshd_extra = ""
    ssh_dir = root / home.lstrip("/") / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(ssh_dir, *uid_gid)
    _write(ssh_dir / "authorized_keys", client_pubkey, 0o600, uid_gid)
    _write(root / "etc/ssh/ssh_host_ed25519_key", host_key.read_text(), 0o600)
    _write(root / "etc/ssh/ssh_host_ed25519_key.pub", host_key.with_suffix(".pub").read_text(), 0o644)
    if spec.gpu_stand_in:
        write_gpu_stand_ins(root)
    _write(root / "etc/ssh/sshd_config.d/10-lab.conf",
           f"# written by the homelab lab\nPort {spec.ssh_port}\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
           f"PasswordAuthentication no\n{sshd_extra}", 0o644)


def boot(spec: MachineSpec, log_file: Path) -> dict[str, Any]:
    return spawn([
        "systemd-nspawn", "--quiet", "-D", str(spec.root), "--boot", "-M", f"hlab-{spec.name}",
        f"--network-namespace-path=/run/netns/{spec.netns}", "--register=no", "--keep-unit",
        "--timezone=off", "--resolv-conf=off", "--link-journal=no", "--console=read-only",
        *(nspawn_gpu_args() if spec.gpu_stand_in else []),
        *(["--bind=/dev/net/tun", "--capability=CAP_NET_ADMIN"] if spec.tun else []),
    ], log_file)


def wait_until_ssh_answers(spec: MachineSpec, ssh_base: list[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run([*ssh_base, "-p", str(spec.ssh_port), f"{spec.ssh_user}@{spec.address}", "true"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise LabError(f"lab host {spec.name} ({spec.address}:{spec.ssh_port}) did not answer SSH: "
                           f"{proc.stderr.strip()}")
        time.sleep(0.5)


def shutdown(record: dict[str, Any] | None) -> None:
    stop_recorded_process(record)
