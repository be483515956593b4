"""`tasks.py upgrade plan | apply` on the lab.

The GPU node is first deployed with the earlier pins: the earlier release of each
vendored chart (charts/README.md) and k3s v1.33.6, whose binary is a STAND-IN served by the
lab's mirror with its own sha256 (there is no k3s here). The Helm controller's verdict, the
nodes and pods are the stand-in k3s's kubectl answers; the smoke test runs through real
Caddy and LiteLLM on the deployed config to the vLLM stand-in."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from homelab import k3s, pins
from homelab.components.ai_stack import stack_context
from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.lab.stand_ins import EARLIER_K3S_VERSION, stand_in_k3s_sha256
from homelab.settings import GpuNode
from homelab.stack import helm_render, manifests
from homelab.upgrade import apply as upgrade_apply
from homelab.upgrade.deployed import READ_FILES
from tasks import cli
from tests.support import (
    KUBECTL,
    MANIFESTS_DIR,
    assert_idempotent,
    helmchart,
    inventory_variant,
    kubectl_answers,
    landed_manifests,
    node,
    pod,
    run_deploy,
)

pytestmark = pytest.mark.lab

# The release before each pinned chart (charts/README.md: packed from the tags, with sha256).
# The router image stays: the plan must say that the chart moves without it.
EARLIER_CHARTS = {
    "device_plugin_chart_version": "0.19.3",
    "vllm_stack_chart_version": "0.1.11",
    "kube_prometheus_stack_chart_version": "88.3.0",
    "open_webui_chart_version": "15.2.1",
}
_K3S_STAND_IN = stand_in_k3s_sha256(EARLIER_K3S_VERSION)
EARLIER_K3S = {
    "k3s_version": EARLIER_K3S_VERSION,
    "k3s_sha256": {"amd64": _K3S_STAND_IN, "arm64": _K3S_STAND_IN},
    # STAND-IN sums: the lab installs no air-gap images (k3s_artifacts_dir is unset)
    "k3s_airgap_images_sha256": {arch: hashlib.sha256(f"stand-in {EARLIER_K3S_VERSION} {arch}".encode()).hexdigest()
                                 for arch in ("amd64", "arm64")},
}


def upgrade(lab, *args, inventory=None):
    return CliRunner().invoke(cli, ["upgrade", *args, "--inventory", str(inventory or lab.inventory_file)])


def record(lab) -> dict:
    return json.loads(lab.ssh("gpu-node", f"cat {pins.RECORD}").stdout)


def host_fingerprint(lab) -> str:
    """sha256 of everything an upgrade writes on the GPU node: manifests, record, k3s."""
    return lab.ssh("gpu-node", f"sha256sum {MANIFESTS_DIR}/* {pins.RECORD} {k3s.BINARY}", sudo=True).stdout


def current_pins(lab) -> dict:
    inventory = load_inventory(lab.inventory_file)
    return pins.pins_of(settings_for(inventory.get_host("gpu-node"), GpuNode))


def deploy_pins(lab, earlier: dict, forget_record: bool = False) -> None:
    if forget_record:
        # as a node installed at the earlier pins would be: a record of the current ones would
        # (rightly) refuse to take k3s back a release
        lab.ssh("gpu-node", f"rm -f {pins.RECORD}", sudo=True)
    run = run_deploy("gpu_node", lab.inventory_file, *pins.data_options(earlier), limit="gpu-node")
    assert run.returncode == 0, run.explain()


@pytest.fixture(scope="module")
def at_earlier_pins(lab, converged_gpu_node):
    deploy_pins(lab, {**EARLIER_CHARTS, **EARLIER_K3S}, forget_record=True)
    yield
    deploy_pins(lab, {})


@pytest.fixture
def healthy_cluster(lab, gateway):
    """The stand-in kubectl's answers for a cluster whose releases went through."""
    shares = len([m for m in gateway.cfg.models if m.enabled])
    kubectl_answers(lab, {"items": [node("gpu-node", gpus=str(shares))]},
                    {"items": [pod("ai", "litellm-7d9f"), pod("ai", "vllm-router-5c")]},
                    {"items": [helmchart(name) for name in ("vllm", "open-webui", "nvidia-device-plugin")]})
    yield
    lab.ssh("gpu-node", f"rm -f {KUBECTL}/get-nodes.json {KUBECTL}/get-pods.json {KUBECTL}/get-helmcharts.json",
            sudo=True)


# -- an independent diff: the files that landed, rendered, compared by flattened leaves -----

def flatten(value, prefix="") -> dict[str, object]:
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}.{key}" if prefix
                                                                            else str(key)).items()}
    if isinstance(value, list) and value:
        return {k: v for index, item in enumerate(value) for k, v in flatten(item, f"{prefix}[{index}]").items()}
    return {prefix: value}


def rendered_by_key(files: dict[str, list[dict]]) -> dict[tuple, dict]:
    """Every object, with the CRDs the charts install (Helm's --include-crds)."""
    found = {}
    for file_name, objects in files.items():
        for obj in objects:
            for item in helm_render.helm_template(obj, include_crds=True) if obj["kind"] == "HelmChart" else [obj]:
                metadata = item.get("metadata", {})
                found[(file_name, item["kind"], str(metadata.get("namespace") or ""), metadata["name"])] = item
    return found


def own_diff(lab) -> tuple[dict[tuple, set[str]], set[tuple], set[tuple], set[str], set[str]]:
    landed = {name.removesuffix(".yaml"): objects for name, (_, objects) in landed_manifests(lab).items()
              if name.removesuffix(".yaml") in READ_FILES}
    inventory = load_inventory(lab.inventory_file)
    wanted = manifests.wanted(stack_context(k3s.server_host(inventory), inventory))
    old, new = rendered_by_key(landed), rendered_by_key(wanted)
    changed = {}
    for key in old.keys() & new.keys():
        before, after = flatten(old[key]), flatten(new[key])
        leaves = {path for path in before.keys() | after.keys() if before.get(path, ...) != after.get(path, ...)}
        if leaves:
            changed[key] = leaves
    old_images = set(helm_render.images(helm_render.render(landed)))
    new_images = set(helm_render.images(helm_render.render(wanted)))
    return changed, set(new) - set(old), set(old) - set(new), new_images - old_images, old_images - new_images


def covers(plan_path: str, leaf: str) -> bool:
    return leaf == plan_path or leaf.startswith(plan_path + ".") or leaf.startswith(plan_path + "[")


def test_the_plan_shows_the_differences_between_the_two_renders(lab, at_earlier_pins):
    result = upgrade(lab, "plan", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    changed, added, removed, images_added, images_removed = own_diff(lab)
    assert changed and added and images_added, "the earlier pins render the same as the current ones"

    def keys(change):
        return {(o["component"], o["kind"], o["namespace"], o["name"])
                for o in plan["objects"] if o["change"] == change}

    assert keys("changed") == set(changed)
    assert keys("added") == added and keys("removed") == removed
    for obj in plan["objects"]:
        if obj["change"] != "changed":
            continue
        leaves = changed[(obj["component"], obj["kind"], obj["namespace"], obj["name"])]
        if obj["kind"] == "CustomResourceDefinition":
            assert obj["fields"] == []  # a schema's change is named, not listed
            continue
        paths = [f.split(": ", 1)[0] for f in obj["fields"]]
        assert all(any(covers(p, leaf) for p in paths) for leaf in leaves), (obj["name"], paths, leaves)
        assert all(any(covers(p, leaf) for leaf in leaves) for p in paths), (obj["name"], paths, leaves)
    assert set(plan["images_added"]) == images_added and set(plan["images_removed"]) == images_removed
    assert {c.split(": ", 1)[1].removesuffix(" changed") for c in plan["crds"]} == {
        key[3] for key in changed if key[1] == "CustomResourceDefinition"}
    assert plan["k3s_moves"] == [["gpu-node", EARLIER_K3S_VERSION, current_pins(lab)["k3s_version"]]]
    assert {name for name, _, _ in plan["pin_changes"]} == {*EARLIER_CHARTS, *EARLIER_K3S}
    assert plan["refusals"] == []


def test_the_plan_in_words_names_the_risks_and_the_way_back(lab, at_earlier_pins):
    result = upgrade(lab, "plan")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"gpu-node: {EARLIER_K3S_VERSION} -> {current_pins(lab)['k3s_version']}" in text
    assert "vllm_stack_chart_version: 0.1.11 -> 0.1.12" in text
    assert "k3s cannot be downgraded" in text and "Images (an offline install needs" in text
    assert "RISKY (apply needs --accept-risk)" in text and "CRD" in text
    assert "vllm_stack_chart_version moves (0.1.11 -> 0.1.12) but vllm_router_image stays at" in text


def test_risky_changes_are_refused_unless_accepted_and_dry_writes_nothing(lab, at_earlier_pins, tmp_path):
    before = host_fingerprint(lab)
    refused = upgrade(lab, "apply", "--backup-to", str(tmp_path / "backups"))
    assert refused.exit_code == 1 and "re-run with --accept-risk" in refused.output
    dry = upgrade(lab, "apply", "--accept-risk", "--dry", "--backup-to", str(tmp_path / "backups"))
    assert dry.exit_code == 0, dry.output
    assert "--dry: nothing is written" in dry.output and "deploy deploys/gpu_node.py --limit gpu-node" in dry.output
    assert host_fingerprint(lab) == before
    assert not (tmp_path / "backups").exists()


def test_a_skipped_k3s_minor_is_refused_before_any_host_is_touched(lab, at_earlier_pins, tmp_path):
    before = host_fingerprint(lab)
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"k3s_version": "v1.35.0+k3s1"}})
    result = upgrade(lab, "apply", "--accept-risk", "--backup-to", str(tmp_path / "backups"), inventory=variant)
    assert result.exit_code == 1
    assert f"k3s {EARLIER_K3S_VERSION} -> v1.35.0+k3s1 skips a minor release" in result.output
    assert "upgrade refused" in result.output
    assert host_fingerprint(lab) == before and not (tmp_path / "backups").exists()


def test_apply_moves_to_the_current_pins_with_a_backup_and_a_smoke_test(lab, at_earlier_pins, healthy_cluster,
                                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("HOMELAB_BACKUP_PASSPHRASE", "upgrade test passphrase")
    result = upgrade(lab, "apply", "--accept-risk", "--settle-seconds", "30", "--backup-to", str(tmp_path),
                     "--device", "pixel")  # the token the gateway harness was started with (as test_smoke)
    assert result.exit_code == 0, result.output
    output = result.output
    assert output.index("k3s cannot be downgraded") < output.index("backup:") < output.index("smoke test passed")
    assert "upgraded" in output
    assert list(tmp_path.glob("homelab-*.tar")), "no backup was taken"
    assert record(lab) == current_pins(lab)
    assert f"k3s version {current_pins(lab)['k3s_version']}" in lab.ssh("gpu-node", f"{k3s.BINARY} --version").stdout
    assert_idempotent("gpu_node", lab.inventory_file, limit="gpu-node")
    assert "Nothing to upgrade" in upgrade(lab, "plan").stdout


def test_a_failed_smoke_test_rolls_back_to_the_recorded_pins(lab, at_earlier_pins, gateway, healthy_cluster,
                                                             tmp_path, monkeypatch):
    deploy_pins(lab, EARLIER_CHARTS)  # k3s stays current: the rollback can take everything back
    earlier = record(lab)
    assert earlier["vllm_stack_chart_version"] == EARLIER_CHARTS["vllm_stack_chart_version"]
    real_smoke, calls = upgrade_apply.smoke, []

    def engine_down_during_the_first(inventory, options):
        calls.append(1)
        if len(calls) > 1:
            return real_smoke(inventory, options)
        gateway.stop("upstream")  # the engines stop answering: the smoke test fails for real
        try:
            return real_smoke(inventory, options)
        finally:
            gateway.start_upstream()

    monkeypatch.setattr(upgrade_apply, "smoke", engine_down_during_the_first)
    monkeypatch.setenv("HOMELAB_BACKUP_PASSPHRASE", "upgrade test passphrase")
    result = upgrade(lab, "apply", "--accept-risk", "--settle-seconds", "30", "--backup-to", str(tmp_path),
                     "--device", "pixel")  # the token the gateway harness was started with (as test_smoke)
    assert result.exit_code == 1, result.output
    assert "UPGRADE FAILED: the smoke test failed" in result.output
    assert "rolled back: the hosts run the recorded pins again" in result.output and len(calls) == 2
    assert record(lab) == earlier
    landed = landed_manifests(lab)["homelab-vllm.yaml"][1]
    assert [o["spec"]["version"] for o in landed if o["kind"] == "HelmChart"] == ["0.1.11"]
