"""k3s on the GPU-node lab host. There is no Kubernetes here: the lab serves a stand-in
`k3s` (it writes the kubeconfig k3s would write and waits) at the pinned version's
path; the real download URL and checksum are checked from the plan."""

import hashlib

import pytest
import yaml
from click.testing import CliRunner

from homelab import airgap, bench
from homelab.lab import PROJECT_ROOT
from homelab.secrets_store import SecretsStore
from tasks import cli
from tests.support import (
    assert_converges,
    assert_idempotent,
    assert_repairs,
    inventory_variant,
    planned_commands,
    run_deploy,
)

pytestmark = pytest.mark.lab


def main_pid(lab):
    return lab.ssh("gpu-node", "systemctl show -p MainPID --value k3s").stdout.strip()


def test_config_rendered_from_data(lab, converged_gpu_node):
    text = lab.ssh("gpu-node", "cat /etc/rancher/k3s/config.yaml", sudo=True).stdout
    config = yaml.safe_load(text)
    assert config["tls-san"] == ["gpu-node", "10.77.0.10"]
    assert config["node-ip"] == "10.77.0.10" and config["default-runtime"] == "nvidia"
    assert config["node-label"] == ["nvidia.com/gpu.present=true", "nvidia.com/device-plugin.config=homelab-gpu-node"]
    assert config["node-name"] == "gpu-node" and config["cluster-cidr"] == "10.42.0.0/16"
    assert config["disable"] == ["traefik", "servicelb"] and config["write-kubeconfig-mode"] == "0600"
    assert config["token-file"] == "/etc/rancher/k3s/cluster-token"
    assert not [key for key in config if "taint" in key], "a NoExecute taint on a single node evicts every workload"
    assert lab.ssh("gpu-node", "stat -c '%a %U' /etc/rancher/k3s/config.yaml", sudo=True).stdout.strip() == "600 root"


def test_token_from_the_secrets_store_in_a_private_file(lab, converged_gpu_node):
    token = SecretsStore(lab.secrets_file).get("k3s_token").reveal()
    remote = lab.ssh("gpu-node", "stat -c '%a %U' /etc/rancher/k3s/cluster-token && "
                                 "sha256sum /etc/rancher/k3s/cluster-token", sudo=True).stdout.split()
    assert remote[:2] == ["600", "root"]
    assert remote[2] == hashlib.sha256(token.encode()).hexdigest()


def test_binary_unit_and_tools(lab, converged_gpu_node):
    out = lab.ssh("gpu-node", "stat -c %a /usr/local/bin/k3s; readlink /usr/local/bin/kubectl; "
                              "systemctl is-active k3s; systemctl is-enabled k3s").stdout.split()
    assert out == ["755", "/usr/local/bin/k3s", "active", "enabled"]


def test_unchanged_run_does_not_restart_k3s(lab, converged_gpu_node, inventory):
    before = main_pid(lab)
    assert_idempotent("gpu_node", inventory, limit="gpu-node")
    assert main_pid(lab) == before


def test_config_change_restarts_k3s_once(lab, converged_gpu_node, inventory):
    before = main_pid(lab)
    lab.ssh("gpu-node", "sed -i 's/^node-ip: .*/node-ip: \"10.0.0.99\"/' /etc/rancher/k3s/config.yaml", sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert "k3s install | Restart k3s after a change" in run.changed_operations("gpu-node")
    after = main_pid(lab)
    assert after != before
    assert_idempotent("gpu_node", inventory, limit="gpu-node")
    assert main_pid(lab) == after


def test_stopped_k3s_is_started(lab, converged_gpu_node, inventory):
    lab.ssh("gpu-node", "systemctl stop k3s", sudo=True)
    assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert lab.ssh("gpu-node", "systemctl is-active k3s").stdout.strip() == "active"


def test_the_downloaded_binary_is_recorded_and_a_changed_one_is_downloaded_again(lab, converged_gpu_node, inventory):
    """Online too, the binary is recorded like the offline artifacts, so the probe of a
    no-op run stats the 70 MB file instead of reading it; changed on the node, the next run
    downloads it again, checks it and records it anew."""
    from homelab.host_state import ARTIFACT_RECORD

    def landed():
        digest, stamp, line = lab.ssh("gpu-node", "sha256sum /usr/local/bin/k3s | cut -d' ' -f1; "
                                      "stat -c '%s %Y %i' /usr/local/bin/k3s; "
                                      f"grep ' /usr/local/bin/k3s$' {ARTIFACT_RECORD}", sudo=True).stdout.splitlines()
        assert line == f"{digest} {stamp} /usr/local/bin/k3s"
        return digest, stamp

    digest, stamp = landed()
    lab.ssh("gpu-node", "printf x >> /usr/local/bin/k3s", sudo=True)
    run = assert_repairs("gpu_node", inventory, "gpu-node", limit="gpu-node")
    assert any(name.endswith(" binary") for name in run.changed_operations("gpu-node")), run.explain()
    again, restamp = landed()
    assert again == digest and restamp != stamp


def test_plan_with_the_real_release_downloads_the_pinned_binary_and_checks_it(lab, converged_gpu_node, tmp_path):
    """GitHub is not reachable here: checked from the plan, not run."""
    variant = inventory_variant(lab, tmp_path, {}, remove={"gpu-node": ["k3s_release_url", "k3s_sha256"]})
    plan = planned_commands(variant, "gpu_node", "gpu-node")
    download = " ".join(plan["k3s install | k3s v1.34.2+k3s1 binary"])
    assert "https://github.com/k3s-io/k3s/releases/download/v1.34.2%2Bk3s1/k3s" in download
    assert "15811d34187e03fe29d0e46108c42cc33e62cec1b3d9d80f50944536ebcad40a" in download
    assert download.index("sha256sum --check") < download.index("mv /tmp/")
    assert plan["k3s install | Restart k3s after a change"] == ["systemctl restart k3s"]


def test_offline_install_from_an_artifact_directory(lab, converged_gpu_node, tmp_path):
    """k3s's air-gap method: binary and images from a directory on the control machine
    (here: the stand-in k3s and a stand-in images file, their sha256 pinned to match),
    and the stack's own images as archives that `tasks.py images --artifacts` listed. A
    no-op re-run costs the node what an online one does (the probe stats the archives, no
    upload, no hash on the node), and an archive changed on the node is placed again."""
    deploy = PROJECT_ROOT / "deploys" / "gpu_node.py"
    online = bench.timed_run(lab.inventory_file, deploy, PROJECT_ROOT, "--limit", "gpu-node")
    assert online["exit"] == 0 and online["changes"] == 0, online
    artifacts = tmp_path / "k3s-artifacts"
    artifacts.mkdir()
    stand_in = (lab.state_dir / "mirror" / "k3s" / "v1.34.2+k3s1" / "k3s").read_bytes()
    (artifacts / "k3s").write_bytes(stand_in)
    (artifacts / "k3s-airgap-images-amd64.tar.zst").write_bytes(b"homelab lab stand-in for the air-gap images")
    sha = {name: hashlib.sha256((artifacts / name).read_bytes()).hexdigest() for name in
           ("k3s", "k3s-airgap-images-amd64.tar.zst")}
    # two of the stack's images saved (stand-in archives); tasks.py lists what is missing
    images = airgap.images_dir(artifacts)
    images.mkdir()
    saved = {"vllm/vllm-openai:v0.11.1": b"stand-in image archive: vllm", "busybox:1.37": b"stand-in: busybox"}
    for image, body in saved.items():
        (images / f"{airgap.archive_stem(image)}.tar").write_bytes(body)
    result = CliRunner().invoke(cli, ["images", "--inventory", str(lab.inventory_file), "--artifacts", str(artifacts)])
    assert result.exit_code == 1, result.output
    assert "vllm/vllm-openai:v0.11.1" in result.output and "MISSING" in result.output
    assert "docker pull caddy:2.11.2-alpine && docker save caddy:2.11.2-alpine -o" in result.output
    assert airgap.read_sums(images) == {f"{airgap.archive_stem(i)}.tar": hashlib.sha256(b).hexdigest()
                                        for i, b in saved.items()}
    good = {"k3s_artifacts_dir": str(artifacts), "k3s_sha256": {"amd64": sha["k3s"], "arm64": sha["k3s"]},
            "k3s_airgap_images_sha256": {"amd64": sha["k3s-airgap-images-amd64.tar.zst"],
                                         "arm64": sha["k3s-airgap-images-amd64.tar.zst"]},
            "k3s_release_url": "http://192.0.2.1/unreachable"}
    try:
        variant = inventory_variant(lab, tmp_path, {"gpu-node": good})
        assert_converges("gpu_node", variant, limit="gpu-node")
        landed = lab.ssh("gpu-node", "cd /var/lib/rancher/k3s/agent/images && sha256sum *", sudo=True).stdout
        landed = {name: digest for digest, name in (line.split() for line in landed.splitlines())}
        assert landed == {"k3s-airgap-images-amd64.tar.zst": sha["k3s-airgap-images-amd64.tar.zst"],
                          **airgap.read_sums(images)}
        assert_idempotent("gpu_node", variant, limit="gpu-node")
        offline = bench.timed_run(variant, deploy, PROJECT_ROOT, "--limit", "gpu-node")
        assert offline["exit"] == 0 and offline["changes"] == 0, offline
        assert offline["commands"]["gpu-node"] == online["commands"]["gpu-node"], (online, offline)
        record = lab.ssh("gpu-node", "cat /var/lib/homelab/artifacts.sha256", sudo=True).stdout
        assert f"{sha['k3s']} " in record and " /usr/local/bin/k3s\n" in record
        # someone writes over the air-gap images on the node: same size, so only the stamp tells
        placed = "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst"
        lab.ssh("gpu-node", f"printf '%s' \"$(cat {placed} | tr a-z A-Z)\" > {placed}.x && mv {placed}.x {placed}",
                sudo=True)
        assert_repairs("gpu_node", variant, "gpu-node", limit="gpu-node")
        landed = lab.ssh("gpu-node", f"sha256sum {placed}", sudo=True).stdout.split()[0]
        assert landed == sha["k3s-airgap-images-amd64.tar.zst"]
        (images / "busybox_1.37.tar").write_bytes(b"tampered")
        run = run_deploy("gpu_node", variant, limit="gpu-node")
        assert run.returncode != 0 and run.failed_hosts == ["gpu-node"]
        assert "offline images:" in run.stderr and "busybox_1.37.tar" in run.stderr and "SHA256SUMS says" in run.stderr
        (artifacts / "k3s").write_bytes(stand_in + b"\n# tampered")
        run = run_deploy("gpu_node", variant, limit="gpu-node")
        assert run.returncode != 0 and run.failed_hosts == ["gpu-node"]
        assert "offline k3s install:" in run.stderr and "group data pins" in run.stderr
    finally:
        lab.ssh("gpu-node", "rm -rf /var/lib/rancher/k3s/agent/images", sudo=True)
        assert_converges("gpu_node", lab.inventory_file, limit="gpu-node", expect_changes=False)
