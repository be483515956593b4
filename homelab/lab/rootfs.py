"""The cached Debian root filesystem every lab host boots from (read-only lower layer)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from homelab.lab.system import LabError, run

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What a fresh Ubuntu/Armbian image has too: systemd, sshd, sudo, curl, gnupg, tzdata.
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2",
    "ca-certificates", "curl", "gnupg", "tzdata", "procps",
]
CACHE_DIR = Path("/var/cache/homelab-lab")


def rootfs_path() -> Path:
    recipe = hashlib.sha256(" ".join([SUITE, MIRROR, *PACKAGES]).encode()).hexdigest()[:10]
    return CACHE_DIR / f"rootfs-{SUITE}-{recipe}"


def ensure_rootfs(log: Callable[[str], object]) -> Path:
    """Build the rootfs once (about a minute); later calls reuse it."""
    target = rootfs_path()
    if (target / "etc/os-release").exists():
        return target
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log(f"building the lab's Debian {SUITE} rootfs in {target} (once, about a minute)")
    proc = run("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, building, MIRROR,
               check=False)
    if proc.returncode != 0:
        raise LabError(f"debootstrap failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    _make_generic(building)
    building.rename(target)
    return target


def _make_generic(root: Path) -> None:
    """Strip what must differ per host, so every lab host starts like a fresh install."""
    (root / "etc/hostname").write_text("debian\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n")
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    run("chroot", root, "passwd", "--lock", "root")
    (root / "etc/apt/apt.conf.d/99lab-no-recommends").write_text(
        '// lab image: keep installs small like a minimal server image\nAPT::Install-Recommends "false";\n'
    )
