"""How a model gets from the hub to a running engine, with the commands the deploy wrote:
the prefetch Job's command and the engines' init-container script, read back from the
GPU-node lab host's manifests and run there. The hub is a STAND-IN
(tests/stand_ins/hub: huggingface_hub's snapshot_download serving fixture file lists
of the pinned revisions, tests/fixtures/hub); the previous engine's /health is a
stand-in `wget` that never or always succeeds."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import pytest

from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.stack import helm_render, model_cache
from tests.support import PROJECT_ROOT, assert_converges, catalogue, inventory_variant, landed_manifests

pytestmark = pytest.mark.lab
STAND_IN = "/opt/homelab-test-stand-ins"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hub"


def copy_to(lab, node: str, source: Path, target: str) -> None:
    tar = subprocess.run(["tar", "-C", str(source), "-cf", "-", "."], capture_output=True, check=True).stdout
    spec = lab.spec(node)
    subprocess.run([*lab.ssh_base(), "-p", str(spec.ssh_port), f"{spec.ssh_user}@{spec.address}",
                    f"sudo mkdir -p {target} && sudo tar -C {target} -xf -"], input=tar, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def stand_ins(lab, converged_gpu_node):
    copy_to(lab, "gpu-node", PROJECT_ROOT / "tests" / "stand_ins" / "hub", f"{STAND_IN}/hub")
    copy_to(lab, "gpu-node", FIXTURES, f"{STAND_IN}/fixtures")
    yield
    lab.ssh("gpu-node", f"rm -rf {STAND_IN} {model_cache.MOUNT}", sudo=True)


@pytest.fixture(scope="module")
def models(lab):
    cfg = settings_for(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT).get_host("gpu-node"))
    return {m.name: m for m in cfg.models if m.enabled}


def landed_jobs(lab) -> dict[str, dict]:
    _, objects = landed_manifests(lab)["homelab-model-cache.yaml"]
    return {o["metadata"]["labels"]["homelab/model"]: o for o in objects if o["kind"] == "Job"}


def run_prefetch(lab, command: list[str]) -> subprocess.CompletedProcess:
    env = f"PYTHONPATH={STAND_IN}/hub HOMELAB_HUB_FIXTURES={STAND_IN}/fixtures"
    return lab.ssh("gpu-node", f"env {env} {shlex.join(command)}", sudo=True, check=False)


@pytest.mark.parametrize("name", ["clip-vit-b-32", "all-minilm-l6-v2"])
def test_the_landed_prefetch_fetches_the_weights_and_marks_them_complete(lab, stand_ins, models, name):
    model = models[name]
    job = landed_jobs(lab)[name]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    result = run_prefetch(lab, command)
    assert result.returncode == 0, result.stderr
    listing = lab.ssh("gpu-node", f"cd {model_cache.model_dir(model)} && find . -type f | sort", sudo=True).stdout
    files = {line.removeprefix("./") for line in listing.split()}
    assert Path(model_cache.complete_marker(model)).name in files
    assert any(Path(f).match(pattern) for f in files for pattern in model.weight_files), files
    assert not [f for f in files if f.endswith((".onnx", ".h5", ".ot", ".msgpack"))], "only what vLLM loads"


def test_a_prefetch_whose_weights_are_not_there_fails_without_the_marker(lab, stand_ins, models):
    """What the catalogue said before: CLIP's weights as safetensors, which its pinned
    revision does not have. The Job must fail, not leave an engine waiting on no weights."""
    clip = models["clip-vit-b-32"].model_copy(update={"weight_files": ["*.safetensors"]})
    lab.ssh("gpu-node", f"rm -rf {model_cache.model_dir(clip)}", sudo=True)
    result = run_prefetch(lab, model_cache.prefetch_command(clip))
    assert result.returncode != 0
    assert "no weights matching '*.safetensors'" in result.stderr
    assert "fix weight_files of clip-vit-b-32" in result.stderr
    assert lab.ssh("gpu-node", f"test -e {model_cache.complete_marker(clip)}", sudo=True, check=False).returncode


def engine_scripts(lab) -> dict[str, str]:
    """model -> the wait script of its engine's init container, from the rendered vLLM HelmChart."""
    objects = helm_render.render({"homelab-vllm.yaml": landed_manifests(lab)["homelab-vllm.yaml"][1]})
    scripts = {}
    for item in objects:
        if item.kind == "Deployment" and item.name.endswith("-deployment-vllm"):
            init = item.obj["spec"]["template"]["spec"]["initContainers"][0]
            scripts[item.obj["metadata"]["labels"]["model"]] = init["args"][0]
    return scripts


def run_wait(lab, script: str, wget_exit: int, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    wget = f"#!/bin/sh\n# STAND-IN for busybox wget: the previous engine's /health\nexit {wget_exit}\n"
    setup = (f"mkdir -p {STAND_IN}/bin && printf %s {shlex.quote(wget)} > {STAND_IN}/bin/wget && "
             f"chmod 755 {STAND_IN}/bin/wget")
    lab.ssh("gpu-node", setup, sudo=True)
    started = time.monotonic()
    result = lab.ssh("gpu-node", f"PATH={STAND_IN}/bin:$PATH sh -c {shlex.quote(script)}", sudo=True, check=False,
                     timeout=timeout)
    return result, time.monotonic() - started


def test_engines_wait_for_the_previous_one_but_not_forever(lab, stand_ins, models, tmp_path):
    """A short engine_start_wait_seconds, deployed and rendered back: an engine whose
    predecessor never answers starts anyway once the wait is over; one whose predecessor
    answers starts at once."""
    # every model always loaded: then they all start one after another
    variant = inventory_variant(lab, tmp_path, {"gpu-node": {"engine_start_wait_seconds": 10,
                                                             "models": catalogue(idle_minutes=None)}})
    try:
        assert_converges("gpu_node", variant, limit="gpu-node")
        scripts = engine_scripts(lab)
        second = next(name for name, script in scripts.items() if "/health" in script)
        lab.ssh("gpu-node", f"mkdir -p {model_cache.model_dir(models[second])} && "
                            f"touch {model_cache.complete_marker(models[second])}", sudo=True)
        result, seconds = run_wait(lab, scripts[second], wget_exit=1, timeout=60)
        assert result.returncode == 0 and 9 <= seconds < 30, (seconds, result.stdout)
        assert f"did not answer within 10 s: starting {second} anyway" in result.stdout
        result, seconds = run_wait(lab, scripts[second], wget_exit=0, timeout=60)
        assert result.returncode == 0 and seconds < 5 and "anyway" not in result.stdout
    finally:
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node")
