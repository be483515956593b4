"""The GPU must be visible before anything is built on it: /dev/dxg on WSL2 (the
Windows driver's paravirtual GPU) or /dev/nvidia0 on bare metal, and nvidia-smi
answering. Inside WSL there must be no Linux NVIDIA driver: it would shadow the
Windows driver's libraries in /usr/lib/wsl/lib."""

from typing import Any

from pyinfra.context import host

from homelab import host_state
from homelab.components import deploy
from homelab.guards import refuse
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.settings import GpuNode

LINUX_DRIVER_PREFIXES = ("nvidia-driver-", "nvidia-utils-", "libnvidia-compute-", "nvidia-dkms-")


def gpu_problem(probe: dict[str, Any], wsl: bool, packages: dict[str, str],
                planned_gib: float | None = None) -> str | None:
    """What is wrong with the GPU setup and how to fix it, or None. `planned_gib` is the
    GPU memory group data plans with (gpu_vram_gib)."""
    if wsl:
        drivers = sorted(p for p in packages if p.startswith(LINUX_DRIVER_PREFIXES))
        if drivers:
            return (f"a Linux NVIDIA driver is installed inside WSL ({', '.join(drivers)}); WSL2 uses the Windows "
                    f"driver. Fix: inside WSL run `sudo apt purge {' '.join(drivers)}`")
        if "/dev/dxg" not in probe["devices"] or not probe["smi"]:
            return ("no GPU visible in WSL2 (/dev/dxg or /usr/lib/wsl/lib/nvidia-smi missing). Fix: on Windows install "
                    "the current NVIDIA Game Ready/Studio driver (Windows side only, nothing inside WSL), run "
                    "`wsl --update` and `wsl --shutdown`, then re-run")
    elif "/dev/nvidia0" not in probe["devices"] or not probe["smi"]:
        return ("no NVIDIA GPU visible (/dev/nvidia0 or nvidia-smi missing). Fix: on this Linux host install the "
                "NVIDIA driver (e.g. `sudo ubuntu-drivers install`) and reboot, then re-run")
    if not probe["name"]:
        return f"{probe['smi']} does not report a GPU. Fix: check the driver with `nvidia-smi` on the host"
    if planned_gib and probe["memory_mib"] and probe["memory_mib"] < planned_gib * 1024 * 0.97:
        return (f"{probe['name']} has {probe['memory_mib']} MiB, but the VRAM plan assumes {planned_gib} GiB. "
                f"Fix: set gpu_vram_gib to {probe['memory_mib'] / 1024:.1f} in group_data/gpu_nodes.py "
                "(`python tasks.py plan` shows what then fits)")
    return None


host_state.reads(GpuNode, Query(gpu=True, packages={f"{prefix}*" for prefix in LINUX_DRIVER_PREFIXES}))


@deploy("GPU check")
def gpu_check() -> bool:
    """Returns False when the host was refused."""
    cfg = settings_for(host, GpuNode)
    state = host_state.snapshot(host)
    wsl = host_state.is_wsl(cfg, state.profile)
    problem = gpu_problem(state.gpu, wsl, state.packages if wsl else {}, cfg.gpu_vram_gib)
    if problem:
        refuse(problem)
        return False
    return True
