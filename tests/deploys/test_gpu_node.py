"""deploys/gpu_node.py as a whole on the lab (WSL2/GPU/k3s stand-ins): idempotent, and a
second GPU node joins the first as a k3s agent."""

import hashlib
import re

import pytest
import yaml

from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.lab.stand_ins import write_gpu_stand_ins
from homelab.secrets_store import SecretsStore
from homelab.settings import GpuNode
from homelab.stack.common import StackContext
from tests.support import PROJECT_ROOT, assert_converges, assert_idempotent, inventory_variant, landed_manifests

pytestmark = pytest.mark.lab


def test_second_run_changes_nothing(converged_gpu_node, inventory):
    assert_idempotent("gpu_node", inventory)


def test_a_second_gpu_node_joins_as_agent_and_serves_the_models_placed_on_it(lab, converged_gpu_node, tmp_path):
    """The potato lab host plays a second GPU node for this test (GPU stand-ins added by
    hand) with the MiniLM model placed on it, and is put back to a fresh, converged Le
    Potato afterwards. The server's manifests, read back and rendered with Helm, must put
    each pod where the plans counted it."""
    root = lab.spec("potato").base / "root"
    write_gpu_stand_ins(root)
    lab.ssh("potato", "mknod -m 666 /dev/dxg c 1 3", sudo=True)
    gpu_data = {key: value for key, value in _lab_host_data(lab, "gpu-node").items()
                if key.startswith(("wsl", "nvidia_toolkit", "k3s_"))}
    inventory = load_inventory(lab.inventory_file, cwd=PROJECT_ROOT)
    catalogue = [m.model_dump(exclude_defaults=True) for m in settings_for(inventory.get_host("gpu-node")).models]
    for entry in catalogue:
        if entry["name"] == "all-minilm-l6-v2":
            entry["gpu_node"] = "potato"
    variant = inventory_variant(lab, tmp_path, {"potato": {**gpu_data, "models": catalogue},
                                                "gpu-node": {"models": catalogue}},
                                remove={"potato": ["apt_cache_upstream_proxy"]}, move={"potato": "gpu_nodes"})
    try:
        assert_converges("gpu_node", variant, limit=["gpu-node", "potato"])
        config = yaml.safe_load(lab.ssh("potato", "cat /etc/rancher/k3s/config.yaml", sudo=True).stdout)
        assert config["server"] == "https://10.77.0.10:6443" and config["node-ip"] == "10.77.0.11"
        assert config["node-name"] == "potato"
        assert "nvidia.com/device-plugin.config=homelab-potato" in config["node-label"]
        assert "tls-san" not in config and config["token-file"] == "/etc/rancher/k3s/cluster-token"
        token = SecretsStore(lab.secrets_file).get("k3s_token").reveal()
        assert lab.ssh("potato", "sha256sum /etc/rancher/k3s/cluster-token", sudo=True).stdout.split()[0] == \
            hashlib.sha256(token.encode()).hexdigest()
        assert lab.ssh("potato", "systemctl is-active k3s-agent; systemctl is-active k3s || true").stdout.split() == [
            "active", "inactive"]
        assert "homelab-potato" not in (lab.state_dir / "build" / "kubeconfig").read_text(), "agents have no kubeconfig"
        _placement_matches_the_plans(lab, variant)
        assert_idempotent("gpu_node", variant, limit=["gpu-node", "potato"])
    finally:
        lab.reset("potato", log=lambda m: None)
        assert_converges("le_potato", lab.inventory_file, limit="potato")
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")


def _placement_matches_the_plans(lab, variant):
    from homelab import capacity
    from homelab.stack import helm_render
    from tests.cluster_model import pods_on
    from tests.components.test_cluster_render import node_labels

    ctx = StackContext(nodes={h.name: settings_for(h, GpuNode) for h in
                              load_inventory(variant, cwd=PROJECT_ROOT).get_group("gpu_nodes")})
    assert list(ctx.nodes) == ["gpu-node", "potato"] and [m.name for m in ctx.models_on("potato")] == [
        "all-minilm-l6-v2"]
    rendered = helm_render.render({name: objects for name, (_, objects) in landed_manifests(lab).items()})
    placed = pods_on(rendered, node_labels(ctx.nodes))
    on_potato = sorted(re.sub(r"-[0-9a-f]{6}$", "-<template>", p.workload.name) for p in placed["potato"])
    assert on_potato == ["kube-prometheus-stack-prometheus-node-exporter", "nvidia-device-plugin",
                         "prefetch-all-minilm-l6-v2-c9745ed1-<template>", "vllm-all-minilm-l6-v2-deployment-vllm"]
    for node, plan in capacity.plan(ctx).items():
        assert sorted((p.workload.name, round(p.request("memory"))) for p in placed[node]) == \
            sorted((p.name, p.memory_mib * 2**20) for p in plan.pods), node
    # each node's model cache is on its own disk, bound to it; its engine's share is of its own GPU
    pvs = {o["metadata"]["name"]: o for o in (r.obj for r in rendered) if o["kind"] == "PersistentVolume"}
    assert set(pvs) == {"model-cache-gpu-node", "model-cache-potato", "litellm-usage"}
    minilm = next(m for m in ctx.models if m.name == "all-minilm-l6-v2")
    assert [s.name for s in ctx.plans["potato"].shares] == ["all-minilm-l6-v2"]
    assert "all-minilm-l6-v2" not in {s.name for s in ctx.plans["gpu-node"].shares}
    engine = next(r.obj for r in rendered if r.name == "vllm-all-minilm-l6-v2-deployment-vllm")
    args = engine["spec"]["template"]["spec"]["containers"][0]["command"]
    assert float(args[args.index("--gpu_memory_utilization") + 1]) == ctx.plans["potato"].share(minilm.name).utilization
    sharing = next(o for o in (r.obj for r in rendered) if o["kind"] == "ConfigMap"
                   and o["metadata"]["name"].startswith("nvidia-device-plugin-"))["data"]
    assert yaml.safe_load(sharing["homelab-potato"])["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 1
    assert yaml.safe_load(sharing["homelab-gpu-node"])["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 3


def _lab_host_data(lab, name):
    namespace = {}
    exec(lab.inventory_file.read_text().replace("check_inventory_file(__file__)", ""), namespace)
    for group in ("gpu_nodes", "le_potato", "termux_phones"):
        for host, data in namespace[group]:
            if host == name:
                return data
    raise KeyError(name)
