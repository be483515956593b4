"""The GPU's figures on every GPU node: `homelab-gpu-metrics` (a small service) asks WSL2's
nvidia-smi every few seconds for memory used and total, utilisation, temperature and
power, and writes them, with the model cache's free space, for the node exporter's
textfile collector (the directory the cluster's node exporter already reads for game
mode). Grafana's "AI side" dashboard and the Le Potato's watcher read them there.

Why not an exporter: DCGM exporter does not work on WSL2 and nvidia_gpu_exporter's
maintainers call WSL2 out of scope (its #125, #84); nvidia-smi --query-gpu does."""

from pyinfra.context import host

from homelab import gpu_mode, host_state
from homelab.components import deploy
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, directory_in_place, files_in_place
from homelab.paths import FILES
from homelab.rendering import render
from homelab.services import keep_running
from homelab.settings import GpuNode

SERVICE = "homelab-gpu-metrics"
TOOL = f"/usr/local/bin/{SERVICE}"
UNIT = f"/etc/systemd/system/{SERVICE}.service"
# what it writes, in the directory the node exporter's textfile collector reads
METRICS_FILE = f"{gpu_mode.METRICS_DIR}/homelab_gpu.prom"


host_state.reads(GpuNode, Query(files={TOOL, UNIT}, dirs={gpu_mode.STATE_DIR, gpu_mode.METRICS_DIR}, units={SERVICE}))


@deploy("GPU metrics")
def gpu_metrics() -> None:
    cfg = settings_for(host, GpuNode)
    state = host_state.snapshot(host)
    for directory in (gpu_mode.STATE_DIR, gpu_mode.METRICS_DIR):
        directory_in_place(name=directory, path=directory, mode="755", known=state.dirs[directory])
    tool = ManagedFile(SERVICE, TOOL, (FILES / "gpu_metrics" / SERVICE).read_text(), mode="755")
    unit = ManagedFile(f"{SERVICE}.service", UNIT, render(
        "gpu_metrics", f"{SERVICE}.service.j2", metrics_dir=gpu_mode.METRICS_DIR,
        interval=cfg.gpu_metrics_interval_seconds, model_cache=cfg.model_cache_path))
    placed = files_in_place(tool, unit, known=state.files)
    keep_running(SERVICE, state.unit(SERVICE), configs=[placed[tool]], units=[placed[unit]])
