"""Secrets on their way to the hosts, and the secrets store on this machine.

- A watcher on the GPU-node lab host (tests/tools/file_watch.py, inotify) sees every file
  that holds a secret while a deploy ships the cluster token and the stack's Secrets:
  none may be readable by another user at any moment, none may stay behind.
- A deploy from a machine whose secrets store does not know the running cluster stops
  with the fix, and changes nothing on the host.
- `--dry` never writes the store; the real run writes what it made."""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest
import yaml

from homelab.secrets_store import SecretsStore
from tests.support import PROJECT_ROOT, assert_converges, inventory_variant, run_deploy

pytestmark = pytest.mark.lab
WATCHED = ["/tmp", "/etc/rancher/k3s", "/var/lib/rancher/k3s/server/manifests", "/home/owner"]
TOOL = "/opt/homelab-test-stand-ins/file_watch.py"


def _send(lab, node, path, data: bytes):
    spec = lab.spec(node)
    subprocess.run([*lab.ssh_base(), "-p", str(spec.ssh_port), f"{spec.ssh_user}@{spec.address}",
                    f"sudo mkdir -p {shlex.quote(str(path.rsplit('/', 1)[0]))} "
                    f"&& sudo tee {shlex.quote(path)} >/dev/null "
                    f"&& sudo chmod 600 {shlex.quote(path)}"], input=data, check=True, capture_output=True)


def test_secret_files_are_never_readable_by_others_on_the_way(lab, converged_gpu_node, inventory):
    # every secret, and every long line of a multi-line one (the game-mode keys' PEM)
    values = [str(v) for v in (yaml.safe_load(lab.secrets_file.read_text()) or {}).values()]
    secrets = sorted({line.strip() for v in values for line in v.splitlines() if len(line.strip()) >= 16
                      and not line.startswith("-----")})
    _send(lab, "gpu-node", TOOL, (PROJECT_ROOT / "tests" / "tools" / "file_watch.py").read_bytes())
    _send(lab, "gpu-node", "/root/needles", "\n".join(secrets).encode())
    log = "/root/file-watch.log"
    lab.ssh("gpu-node", f"rm -f {log}; nohup python3 {TOOL} {log} /root/needles {' '.join(WATCHED)} "
                        ">/dev/null 2>&1 & echo $! > /root/file-watch.pid", sudo=True)
    try:
        deadline = time.monotonic() + 20
        while "ready" not in lab.ssh("gpu-node", f"cat {log} 2>/dev/null || true", sudo=True).stdout:
            assert time.monotonic() < deadline, "the watcher did not start"
            time.sleep(0.2)
        # both secret files differ from what the deploy wants: it ships them again
        lab.ssh("gpu-node", "echo tampered >> /etc/rancher/k3s/cluster-token && "
                            "sed -i 's/^  name: gateway-tokens/  name: gateway-tokens-x/' "
                            "/var/lib/rancher/k3s/server/manifests/homelab-secrets.yaml", sudo=True)
        run = run_deploy("gpu_node", inventory, limit="gpu-node")
        assert run.returncode == 0, run.explain()
        assert {"k3s config | Cluster token", "AI stack manifests | homelab-secrets.yaml (Secrets from the "
                "secrets store)"} <= set(run.changed_operations("gpu-node"))
        time.sleep(1)
    finally:
        lab.ssh("gpu-node", "kill $(cat /root/file-watch.pid)", sudo=True, check=False)
    seen = [json.loads(line) for line in lab.ssh("gpu-node", f"cat {log}", sudo=True).stdout.splitlines()]
    files = [entry for entry in seen if "path" in entry]
    assert {e["path"] for e in files} >= {"/etc/rancher/k3s/cluster-token",
                                          "/var/lib/rancher/k3s/server/manifests/homelab-secrets.yaml"}, seen
    assert [e for e in files if e["exposed"]] == [], "a secret was readable by another user on its way"
    assert [e for e in files if e["path"].startswith("/tmp/") and e["dir_mode"] != "0o700"] == []
    left = lab.ssh("gpu-node", "grep -rlF -f /root/needles /tmp /home/owner 2>/dev/null || true", sudo=True).stdout
    assert left.strip() == "", f"plaintext left behind: {left}"
    lab.ssh("gpu-node", f"rm -f /root/needles {log} /root/file-watch.pid", sudo=True)


def test_a_cluster_this_machines_store_does_not_know_is_left_alone(lab, converged_gpu_node, tmp_path):
    token_before = lab.ssh("gpu-node", "sha256sum /etc/rancher/k3s/cluster-token", sudo=True).stdout
    pid_before = lab.ssh("gpu-node", "systemctl show -p MainPID --value k3s").stdout
    fresh = tmp_path / "other-machine" / "secrets.yaml"
    variant = inventory_variant(lab, tmp_path, {name: {"secrets_file": str(fresh)} for name in
                                                ("gpu-node", "potato", "pixel", "@render/ipad", "@local")})
    run = run_deploy("gpu_node", variant, limit="gpu-node")
    assert run.returncode == 1 and run.failed_hosts == ["gpu-node"], run.explain()
    assert "has no k3s_token" in run.stderr and "copy the secrets store from that machine" in run.stderr
    assert lab.ssh("gpu-node", "sha256sum /etc/rancher/k3s/cluster-token", sudo=True).stdout == token_before
    assert lab.ssh("gpu-node", "systemctl show -p MainPID --value k3s").stdout == pid_before
    assert not fresh.exists(), "nothing was shipped, so nothing was written to the store"


def test_a_cluster_whose_stack_keys_this_store_lacks_stays_refused(lab, converged_gpu_node, tmp_path):
    """The store knows the cluster token but not the stack's keys: the GPU node is refused,
    and keys made for it must not reach the store through another host's upload (the
    MacBook's files, same run), or the next run would ship them and lock every client out."""
    manifest = "/var/lib/rancher/k3s/server/manifests/homelab-secrets.yaml"
    before = lab.ssh("gpu-node", f"sha256sum {manifest}", sudo=True).stdout
    partial = tmp_path / "partial" / "secrets.yaml"
    SecretsStore(partial).set("k3s_token", SecretsStore(lab.secrets_file).get("k3s_token").reveal())
    variant = inventory_variant(lab, tmp_path, {name: {"secrets_file": str(partial)} for name in
                                                ("gpu-node", "potato", "pixel", "@render/ipad", "@local")})
    try:
        for _ in range(2):
            run = run_deploy("site", variant, limit=["gpu-node", "@local"])
            assert run.returncode == 1 and run.failed_hosts == ["gpu-node"], run.explain()
            assert "has no vllm_api_key" in run.stderr, run.stderr[-3000:]
            stored = yaml.safe_load(partial.read_text())
            assert "device_token.macbook" in stored, "the MacBook's upload wrote the store"
            made_for_the_refused_stack = {"vllm_api_key", "litellm_master_key.2", "litellm_gateway_key",
                                          "litellm_open_webui_key", "litellm_metrics_key", "grafana_admin_password",
                                          "open_webui_secret_key", "open_webui_admin_password"}
            assert not made_for_the_refused_stack & set(stored), "keys for a refused host were kept"
        assert lab.ssh("gpu-node", f"sha256sum {manifest}", sudo=True).stdout == before
    finally:
        assert_converges("clients", lab.inventory_file, limit="@local", expect_changes=None)


def test_dry_never_writes_the_store_and_the_real_run_does(lab, tmp_path):
    fresh = tmp_path / "store" / "secrets.yaml"
    variant = inventory_variant(lab, tmp_path, {name: {"secrets_file": str(fresh)} for name in
                                                ("gpu-node", "potato", "pixel", "@render/ipad", "@local")})
    try:
        run = run_deploy("clients", variant, limit="pixel", dry=True)
        assert run.returncode == 0, run.explain()
        assert "Termux client | API env file" in [op["name"] for op in run.plan] and not fresh.exists()
        assert_converges("clients", variant, limit="pixel")
        store = yaml.safe_load(fresh.read_text())
        token = store["device_token.pixel"]
        env = lab.ssh("pixel", "cat /data/data/com.termux/files/home/.config/homelab/openai.env").stdout
        assert f'OPENAI_API_KEY="{token}"' in env
    finally:
        assert_converges("clients", lab.inventory_file, limit="pixel", expect_changes=None)
