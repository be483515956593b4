"""The cluster's kubeconfig merged on the control machine (the lab's stand-in k3s writes
the file k3s would write)."""

import stat

import pytest
import yaml

from homelab.components.kubeconfig import merge_kubeconfig
from tests.support import assert_idempotent, assert_repairs

K3S = {"clusters": [{"name": "default",
                     "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "CA"}}],
       "users": [{"name": "default", "user": {"client-key-data": "KEY"}}],
       "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}]}


def test_merge_keeps_other_clusters_and_rewrites_the_server():
    other = {"clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}}],
             "users": [{"name": "work", "user": {}}],
             "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}], "current-context": "work"}
    merged = merge_kubeconfig(other, K3S, "homelab-gpu-node", "https://192.168.1.50:6443")
    assert [c["name"] for c in merged["clusters"]] == ["work", "homelab-gpu-node"]
    assert merged["clusters"][1]["cluster"] == {"server": "https://192.168.1.50:6443",
                                                "certificate-authority-data": "CA"}
    assert merged["current-context"] == "work"
    again = merge_kubeconfig(merged, K3S, "homelab-gpu-node", "https://192.168.1.51:6443")
    assert len(again["clusters"]) == 2 and again["clusters"][1]["cluster"]["server"] == "https://192.168.1.51:6443"
    assert merge_kubeconfig(None, K3S, "x", "https://h:6443")["current-context"] == "x"


@pytest.mark.lab
def test_context_on_the_control_machine(lab, converged_gpu_node, inventory):
    path = lab.state_dir / "build" / "kubeconfig"
    config = yaml.safe_load(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cluster = {c["name"]: c["cluster"] for c in config["clusters"]}["homelab-gpu-node"]
    assert cluster["server"] == "https://10.77.0.10:6443"
    # another cluster in the same file survives, and a removed context is put back
    config["clusters"].append({"name": "work", "cluster": {"server": "https://work:6443"}})
    config["contexts"] = [{"name": "work", "context": {"cluster": "work", "user": "work"}}]
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    config = yaml.safe_load(path.read_text())
    assert {c["name"] for c in config["contexts"]} == {"work", "homelab-gpu-node"}
    assert_idempotent("gpu_node", inventory, limit="gpu-node")
