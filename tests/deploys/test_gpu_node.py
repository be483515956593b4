"""deploys/gpu_node.py as a whole on the lab (WSL2/GPU/k3s stand-ins): idempotent, and a
second GPU node joins the first as a k3s agent."""

import hashlib

import pytest
import yaml

from homelab.lab.stand_ins import write_gpu_stand_ins
from homelab.secrets import SecretsStore
from tests.support import assert_converges, assert_idempotent, inventory_variant

pytestmark = pytest.mark.lab


def test_second_run_changes_nothing(converged_gpu_node, inventory):
    assert_idempotent("gpu_node", inventory)


def test_a_second_gpu_node_joins_as_agent_with_the_cluster_token(lab, converged_gpu_node, tmp_path):
    """The potato lab host plays a second GPU node for this test (GPU stand-ins added by
    hand), and is put back to a fresh, converged Le Potato afterwards."""
    root = lab.spec("potato").base / "root"
    write_gpu_stand_ins(root)
    lab.ssh("potato", "mknod -m 666 /dev/dxg c 1 3", sudo=True)
    gpu_data = {key: value for key, value in _lab_host_data(lab, "gpu-node").items()
                if key.startswith(("wsl", "nvidia_toolkit", "k3s_"))}
    variant = inventory_variant(lab, tmp_path, {"potato": gpu_data}, remove={"potato": ["apt_cache_upstream_proxy"]},
                                move={"potato": "gpu_nodes"})
    try:
        assert_converges("gpu_node", variant, limit="potato")
        config = yaml.safe_load(lab.ssh("potato", "cat /etc/rancher/k3s/config.yaml", sudo=True).stdout)
        assert config["server"] == "https://10.77.0.10:6443" and config["node-ip"] == "10.77.0.11"
        assert "tls-san" not in config and config["token-file"] == "/etc/rancher/k3s/cluster-token"
        token = SecretsStore(lab.secrets_file).get("k3s_token").reveal()
        assert lab.ssh("potato", "sha256sum /etc/rancher/k3s/cluster-token", sudo=True).stdout.split()[0] == \
            hashlib.sha256(token.encode()).hexdigest()
        assert lab.ssh("potato", "systemctl is-active k3s-agent; systemctl is-active k3s || true").stdout.split() == [
            "active", "inactive"]
        assert "homelab-potato" not in (lab.state_dir / "build" / "kubeconfig").read_text(), "agents have no kubeconfig"
        assert_idempotent("gpu_node", variant, limit="potato")
    finally:
        lab.reset("potato", log=lambda m: None)
        assert_converges("le_potato", lab.inventory_file, limit="potato")


def _lab_host_data(lab, name):
    namespace = {}
    exec(lab.inventory_file.read_text().replace("check_inventory_file(__file__)", ""), namespace)
    for group in ("gpu_nodes", "le_potato", "termux_phones"):
        for host, data in namespace[group]:
            if host == name:
                return data
    raise KeyError(name)
