"""The Termux client on the lab's Termux-like host: non-root user, sshd on 8022, Termux's
paths; its `pkg` is a stand-in (homelab/lab/stand_ins.py)."""

import pytest
import yaml

from homelab.host_settings import settings_for
from homelab.inventory_loading import load_inventory
from homelab.secrets_store import SecretsStore
from tests.support import PROJECT_ROOT, assert_converges, assert_idempotent, assert_repairs, inventory_variant

pytestmark = pytest.mark.lab
HOME = "/data/data/com.termux/files/home"


def test_converges_as_the_termux_user_without_root(lab, converged_pixel):
    assert lab.spec("pixel").ssh_port == 8022 and lab.ssh("pixel", "id -u").stdout.strip() != "0"
    modes = lab.ssh("pixel", f"stat -c '%a %U %n' {HOME}/.config/homelab/openai.env {HOME}/.config/aichat/config.yaml "
                             f"{HOME}/.shortcuts/ask-lab {HOME}/.shortcuts/lab-health").stdout.split("\n")
    assert [line.split()[:2] for line in modes if line] == [["600", "termux"], ["600", "termux"], ["700", "termux"],
                                                           ["700", "termux"]]
    assert set(lab.ssh("pixel", "pkg list-installed").stdout.split()) >= {
        "python/stable,now", "curl/stable,now", "aichat/stable,now"}
    shebang = lab.ssh("pixel", f"head -n 1 {HOME}/.shortcuts/ask-lab").stdout.strip()
    assert shebang == "#!/data/data/com.termux/files/usr/bin/bash"


def test_second_run_changes_nothing(converged_pixel, inventory):
    assert_idempotent("clients", inventory, limit="pixel")


def test_the_shell_loads_the_env_file(lab, converged_pixel):
    token = SecretsStore(lab.secrets_file).get("device_token.pixel").reveal()
    out = lab.ssh("pixel", "bash -ic 'echo \"$OPENAI_BASE_URL|$OPENAI_API_KEY\"' 2>/dev/null").stdout.strip()
    assert out == f"http://{lab.spec('gpu-node').address}:8080/v1|{token}"


def test_aichat_lists_the_catalogue(lab, converged_pixel):
    config = yaml.safe_load(lab.ssh("pixel", f"cat {HOME}/.config/aichat/config.yaml").stdout)
    client = config["clients"][0]
    assert client["type"] == "openai-compatible" and client["api_base"].endswith(":8080/v1")
    cfg = settings_for(load_inventory(lab.inventory_file, cwd=PROJECT_ROOT).get_host("pixel"))
    catalogue = [m for m in cfg.models if m.enabled]
    assert len(catalogue) >= 2
    assert [m["name"] for m in client["models"]] == [m.name for m in catalogue]
    assert [m.get("type") for m in client["models"]] == ["embedding" if m.kind == "embedding" else None
                                                         for m in catalogue]
    assert config["model"] == f"homelab:{cfg.default_model}"


def test_drift_is_repaired(lab, converged_pixel, inventory):
    lab.ssh("pixel", f"echo 'export OPENAI_API_KEY=stolen' >> {HOME}/.config/homelab/openai.env && "
                     f"rm {HOME}/.shortcuts/lab-health && chmod 644 {HOME}/.config/aichat/config.yaml")
    run = assert_repairs("clients", inventory, "pixel", limit="pixel")
    assert set(run.changed_operations("pixel")) == {
        "Termux client | API env file", "Termux client | Widget lab-health", "Termux client | aichat config"}
    assert "stolen" not in lab.ssh("pixel", f"cat {HOME}/.config/homelab/openai.env").stdout


def test_widgets_and_cli_config_reach_the_gateway(lab, converged_pixel, gateway):
    """From the phone, with its own env file and token, through the gateway (running on
    the GPU-node lab host's address) to LiteLLM and the vLLM stand-in."""
    health = lab.ssh("pixel", f"{HOME}/.shortcuts/lab-health")
    assert health.stdout.startswith("lab UP") and "mistral-7b-instruct" in health.stdout, health.stderr
    answer = lab.ssh("pixel", f"{HOME}/.shortcuts/ask-lab 'Is the lab up?'")
    assert answer.stdout.strip() == "Hello from the stand-in", answer.stderr
    config = yaml.safe_load(lab.ssh("pixel", f"cat {HOME}/.config/aichat/config.yaml").stdout)["clients"][0]
    models = gateway.call("/v1/models", config["api_key"])
    assert models.status_code == 200 and config["api_base"] == gateway.url + "/v1"


def test_the_wake_widget_goes_when_the_pc_has_no_wol_mac(lab, converged_pixel, tmp_path):
    wake = f"{HOME}/.shortcuts/lab-wake"

    def has_wake_widget() -> bool:
        return lab.ssh("pixel", f"test -e {wake}", check=False).returncode == 0

    assert has_wake_widget()
    variant = inventory_variant(lab, tmp_path, {}, remove={"gpu-node": ["wol_mac"]})
    try:
        assert_converges("clients", variant, limit="pixel")
        assert not has_wake_widget()  # before: the widget stayed, calling a wake that is not there
        assert lab.ssh("pixel", f"test -x {HOME}/.shortcuts/lab-pause", check=False).returncode == 0
        assert_idempotent("clients", variant, limit="pixel")
    finally:
        assert_converges("clients", lab.inventory_file, limit="pixel")
    assert has_wake_widget()
