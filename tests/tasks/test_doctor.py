"""`tasks.py doctor` on the lab: read-only, per device, each failure with its fix."""

import json
import re
import shlex

import pytest
from click.testing import CliRunner

from tasks import cli
from tests.support import KUBECTL, assert_converges, assert_idempotent, helmchart, kubectl_answers, node, pod

pytestmark = pytest.mark.lab


def doctor(lab):
    return CliRunner().invoke(cli, ["doctor", "--inventory", str(lab.inventory_file)])


def states(output) -> dict[tuple[str, str], str]:
    """(device, check) -> ok/FAIL, from doctor's table."""
    table = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 3 and cells[2] in ("ok", "FAIL"):
            table[(cells[0], cells[1])] = cells[2]
    return table


def test_reports_what_is_right(lab, converged_gpu_node, converged_potato, inventory, gateway):
    assert_converges("site", inventory, expect_changes=None)  # every device, so that "doctor changed nothing" holds
    shares = len([m for m in gateway.cfg.models if m.enabled])
    kubectl_answers(lab, {"items": [node("gpu-node", gpus=str(shares))]},
                    {"items": [pod("ai", "litellm-7d9f"), pod("ai", "prefetch-gpt2-x", phase="Succeeded", ready=False),
                               pod("monitoring", "kube-prometheus-stack-grafana-5c")]},
                    {"items": [helmchart("vllm"), helmchart("open-webui")]})
    try:
        result = doctor(lab)
    finally:
        lab.ssh("gpu-node", f"rm -rf {KUBECTL}", sudo=True)
    table = states(result.output)
    for device in ("gpu-node", "potato", "pixel"):
        assert table[(device, "SSH with the pinned host key")] == "ok", result.output
    for check in ("systemd is PID 1 in WSL", "GPU visible", "model cache disk", "k3s node gpu-node Ready",
                  "GPU shares on gpu-node", "pods Ready", "Helm releases", "token quotas", "gateway answering"):
        assert table[("gpu-node", check)] == "ok", result.output
    for check in ("node exporter and apt cache running", "apt cache disk"):
        assert table[("potato", check)] == "ok", result.output
    assert "NVIDIA GeForce RTX 4070 Ti" in result.output and f"{shares} allocatable, {shares} needed" in result.output
    assert "2 pods ready" not in result.output and "3 pods ready" in result.output
    assert result.exit_code == 0, result.output
    assert_idempotent("site", inventory)  # doctor changed nothing


def test_reports_what_is_wrong_in_the_cluster_with_the_fix(lab, converged_gpu_node):
    kubectl_answers(lab, {"items": [node("gpu-node", ready=False, gpus="1")]},
                    {"items": [pod("ai", "vllm-gpt2-deployment-vllm-x", ready=False),
                               pod("ai", "gateway-5f", phase="Pending", ready=False)]},
                    {"items": [helmchart("vllm"), helmchart("open-webui", failed=True)]})
    try:
        result = doctor(lab)
    finally:
        lab.ssh("gpu-node", f"rm -rf {KUBECTL}", sudo=True)
    table = states(result.output)
    assert table[("gpu-node", "k3s node gpu-node Ready")] == "FAIL"
    assert table[("gpu-node", "GPU shares on gpu-node")] == "FAIL" and "1 allocatable" in result.output
    assert table[("gpu-node", "pods Ready")] == "FAIL"
    assert "ai/vllm-gpt2-deployment-vllm-x" in result.output and "ai/gateway-5f" in result.output
    assert "kubectl describe node gpu-node" in result.output and "nvidia.com/gpu.present=true" in result.output
    assert table[("gpu-node", "Helm release open-webui")] == "FAIL" and ("gpu-node", "Helm release vllm") not in table
    assert "kubectl -n kube-system logs job/helm-install-open-webui" in result.output
    assert result.exit_code == 1


def test_without_an_answer_from_kubectl_k3s_is_named_with_the_fix(lab, converged_gpu_node):
    result = doctor(lab)
    assert states(result.output)[("gpu-node", "k3s Ready")] == "FAIL"
    assert "sudo journalctl -u k3s -e" in result.output and result.exit_code == 1


def test_a_stopped_service_and_a_missing_gpu_are_named_with_their_fix(lab, converged_gpu_node, converged_potato,
                                                                      inventory):
    lab.ssh("potato", "systemctl stop apt-cacher-ng", sudo=True)
    lab.ssh("gpu-node", "mv /usr/lib/wsl/lib/nvidia-smi /usr/lib/wsl/lib/nvidia-smi.away", sudo=True)
    try:
        out = doctor(lab).output
        assert "potato: node exporter and apt cache running: re-run `pyinfra inventory.py deploys/le_potato.py`" in out
        assert "gpu-node: GPU visible: no GPU visible in WSL2" in out and "on Windows install" in out
    finally:
        lab.ssh("gpu-node", "mv /usr/lib/wsl/lib/nvidia-smi.away /usr/lib/wsl/lib/nvidia-smi", sudo=True)
        lab.ssh("potato", "systemctl start apt-cacher-ng", sudo=True)


def test_a_paused_ai_side_is_reported_with_how_to_resume(lab, converged_gpu_node):
    from homelab import gpu_mode
    from homelab.inventory_loading import load_inventory
    from homelab.lab.stand_ins import engine_deployments, stand_in_cluster
    from tests.support import PROJECT_ROOT

    engines = engine_deployments(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT))
    lab.seed_stand_in_cluster(stand_in_cluster(engines, "ai", 0, 0))
    try:
        lab.ssh("gpu-node", f"{gpu_mode.TOOL} pause --by pixel", sudo=True)
        out = doctor(lab).output
    finally:
        lab.ssh("gpu-node", f"{gpu_mode.TOOL} resume --by test; rm -rf /var/lib/homelab-lab/kubectl", sudo=True)
    assert states(out)[("gpu-node", "AI side")] == "ok"
    assert re.search(r"paused since \S+ \(by pixel\): the GPU is lent to a game", out), out
    assert "python tasks.py gpu resume" in out
    assert states(doctor(lab).output)[("gpu-node", "AI side")] == "ok"
    assert "serving since" in doctor(lab).output


def test_an_ai_side_whose_state_and_gateway_disagree_fails(lab, converged_gpu_node):
    from homelab import gpu_mode

    lab.ssh("gpu-node", f"touch {gpu_mode.PAUSED_MARKER}", sudo=True)  # a 503 with no pause behind it
    try:
        out = doctor(lab).output
    finally:
        lab.ssh("gpu-node", f"rm -f {gpu_mode.PAUSED_MARKER}", sudo=True)
    assert states(out)[("gpu-node", "AI side")] == "FAIL", out
    assert "the gateway answers 503 (paused marker)" in out and "resume (or pause) on the k3s server" in out


def test_a_sleeping_gpu_node_is_named_with_the_wake_command(lab, tmp_path):
    from tests.support import inventory_variant

    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"ssh_hostname": "10.77.0.98"}})
    out = CliRunner().invoke(cli, ["doctor", "--inventory", str(variant)]).output
    assert "gpu-node: SSH with the pinned host key: the GPU node is asleep (or off): wake it with " \
           "`python tasks.py wake gpu-node`" in out


def test_an_unreachable_device_fails_with_its_fix(lab, tmp_path):
    from tests.support import inventory_variant

    variant = inventory_variant(lab, tmp_path, {"pixel": {"ssh_hostname": "10.77.0.99"}})
    out = CliRunner().invoke(cli, ["doctor", "--inventory", str(variant)]).output
    assert "pixel: SSH with the pinned host key: is it switched on and on the network?" in out


def test_a_device_near_its_token_quota_is_named_with_the_fix(lab, converged_gpu_node, tmp_path):
    """The door's usage store on the server (as the door writes it) and the inventory's quotas."""
    from datetime import UTC, datetime

    from homelab.stack.litellm import USAGE_FILE
    from tests.support import inventory_variant

    variant = inventory_variant(lab, tmp_path, {"pixel": {"api_tokens_per_day": 100},
                                                "@render/ipad": {"api_tokens_per_month": 1000}})
    now = datetime.now(UTC)
    store = {"days": {now.strftime("%Y-%m-%d"): {"pixel": {"gpt2": [10, 50, 35]}, "ipad": {"gpt2": [1, 5, 4]}}},
             "months": {now.strftime("%Y-%m"): {"pixel": {"gpt2": [10, 50, 35]}, "ipad": {"gpt2": [1, 5, 4]}}}}
    lab.ssh("gpu-node", f"mkdir -p $(dirname {USAGE_FILE}); cp -a {USAGE_FILE} {USAGE_FILE}.saved 2>/dev/null; "
                        f"printf %s {shlex.quote(json.dumps(store))} > {USAGE_FILE}", sudo=True)
    try:
        out = CliRunner().invoke(cli, ["doctor", "--inventory", str(variant)]).output
        lab.ssh("gpu-node", f"printf %s 'not json' > {USAGE_FILE}", sudo=True)
        damaged = CliRunner().invoke(cli, ["doctor", "--inventory", str(variant)]).output
    finally:
        lab.ssh("gpu-node", f"mv {USAGE_FILE}.saved {USAGE_FILE} 2>/dev/null || rm -f {USAGE_FILE}", sudo=True)
    assert states(out)[("gpu-node", "token quotas")] == "FAIL", out
    assert "pixel used 85 of 100 tokens this day (85%)" in out and "ipad" not in out.split("token quotas")[1][:200]
    assert "raise api_tokens_per_day/_month" in out
    assert states(damaged)[("gpu-node", "token quotas")] == "FAIL" and "not JSON" in damaged
