"""The GPU's figures on the lab's GPU node: homelab-gpu-metrics asks the STAND-IN
nvidia-smi (no GPU here; it reports an RTX 4070 Ti whose memory in use follows the
stand-in cluster's engines) and writes what it says for the node exporter's textfile
collector; pausing the AI side shows in the figures within the interval."""

from __future__ import annotations

import re
import time

import pytest

from homelab.components.gpu_metrics import METRICS_FILE, SERVICE, UNIT
from homelab.inventory_loading import load_inventory
from homelab.lab.stand_ins import engine_deployments, stand_in_cluster
from tests.support import PROJECT_ROOT, assert_repairs

pytestmark = pytest.mark.lab
SMI = "/usr/lib/wsl/lib/nvidia-smi"


def figures(lab) -> dict[str, float]:
    text = lab.ssh("gpu-node", f"cat {METRICS_FILE}").stdout
    return {re.split(r"[{ ]", line)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def smi_memory_used_mib(lab) -> int:
    return int(lab.ssh("gpu-node", f"{SMI} --query-gpu=memory.used --format=csv,noheader,nounits").stdout)


def test_figures_are_what_nvidia_smi_says(lab, converged_gpu_node, inventory):
    # engines running in the stand-in cluster: the stand-in GPU is busy (power drawn)
    lab.seed_stand_in_cluster(stand_in_cluster(engine_deployments(load_inventory(inventory, cwd=PROJECT_ROOT)),
                                               "ai", 0, 0))
    assert lab.ssh("gpu-node", f"systemctl is-active {SERVICE}").stdout.strip() == "active"
    time.sleep(6)  # one interval: the figures follow
    found = figures(lab)
    assert found["homelab_gpu_up"] == 1
    assert found["homelab_gpu_memory_total_bytes"] == 12282 * 2**20
    assert found["homelab_gpu_memory_used_bytes"] == smi_memory_used_mib(lab) * 2**20
    assert 0 <= found["homelab_gpu_utilization_ratio"] <= 1
    assert found["homelab_gpu_temperature_celsius"] > 0
    power = lab.ssh("gpu-node", f"{SMI} --query-gpu=index,name,memory.used,memory.total,utilization.gpu,"
                                "temperature.gpu,power.draw --format=csv,noheader,nounits").stdout.rsplit(",", 1)[1]
    assert found["homelab_gpu_power_watts"] == float(power) > 0
    # the model cache's file system (its nearest existing directory before the first download)
    assert 0 < found["homelab_model_cache_filesystem_avail_bytes"] < found["homelab_model_cache_filesystem_size_bytes"]
    assert time.time() - found["homelab_gpu_metrics_timestamp_seconds"] < 30


def test_a_missing_figure_is_left_out_not_made_up(lab, converged_gpu_node):
    """nvidia-smi says [N/A] for power on some boards and when idle: no series, not a 0."""
    lab.ssh("gpu-node", "homelab-gpu pause --by test", sudo=True, timeout=120)
    try:
        deadline = time.monotonic() + 30
        while "homelab_gpu_power_watts" in figures(lab) and time.monotonic() < deadline:
            time.sleep(1)
        found = figures(lab)
        assert "homelab_gpu_power_watts" not in found, "the stand-in reports [N/A] while idle"
        assert found["homelab_gpu_memory_used_bytes"] == smi_memory_used_mib(lab) * 2**20
        assert found["homelab_gpu_memory_used_bytes"] < 1024 * 2**20, "paused: only the desktop's memory"
    finally:
        lab.ssh("gpu-node", "homelab-gpu resume --by test", sudo=True, timeout=300)


def test_a_stopped_service_and_an_edited_unit_are_repaired(lab, converged_gpu_node, inventory):
    lab.ssh("gpu-node", f"sed -i 's/--interval [0-9]*/--interval 600/' {UNIT} && systemctl daemon-reload && "
                        f"systemctl stop {SERVICE}", sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert "GPU metrics | homelab-gpu-metrics.service" in run.changed_operations("gpu-node")
    assert "--interval 5" in lab.ssh("gpu-node", f"cat {UNIT}").stdout
    assert lab.ssh("gpu-node", f"systemctl is-active {SERVICE}").stdout.strip() == "active"
