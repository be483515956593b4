"""`tasks.py backup` / `restore` on the lab: take a backup, wipe what it holds from the
k3s server and this machine, restore, and the next deploy changes nothing."""

import io
import stat
import tarfile

import pytest
from click.testing import CliRunner

from homelab import backup as backups
from tasks import cli
from tests.support import assert_idempotent

pytestmark = pytest.mark.lab
PASSPHRASE = "correct horse battery staple"


def test_backup_wipe_restore_then_nothing_to_change(lab, converged_gpu_node, inventory, tmp_path, monkeypatch):
    monkeypatch.setenv("HOMELAB_BACKUP_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    datastore = lab.ssh("gpu-node", "python3 -c \"import sqlite3; print(sqlite3.connect("
                                    "'/var/lib/rancher/k3s/server/db/state.db').execute("
                                    "'select value from kine').fetchall())\"", sudo=True).stdout
    assert "stand-in datastore" in datastore
    result = runner.invoke(cli, ["backup", "--inventory", str(inventory), "--to", str(tmp_path)])
    assert result.exit_code == 0, result.output
    archive = tmp_path / result.output.strip().splitlines()[-1].split("/")[-1]
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    parts = backups.read(archive)
    secrets_text = lab.secrets_file.read_text()
    assert b"k3s_token" not in parts["secrets.yaml.enc"], "the secrets store is encrypted"
    assert set(parts) == {"manifest.json", "gpu-node.tar.gz.enc", "secrets.yaml.enc"}
    with tarfile.open(fileobj=io.BytesIO(backups.decrypt(parts["gpu-node.tar.gz.enc"], PASSPHRASE))) as server:
        names = server.getnames()
    assert "etc/rancher/k3s/config.yaml" in names and "var/lib/homelab/backup/state.db" in names
    assert any(n.endswith("homelab-vllm.yaml") for n in names)

    lab.ssh("gpu-node", "rm -rf /etc/rancher/k3s /var/lib/rancher/k3s/server/manifests "
                        "/var/lib/rancher/k3s/server/db/state.db", sudo=True)
    lab.secrets_file.unlink()

    wrong = CliRunner().invoke(cli, ["restore", str(archive), "--inventory", str(inventory)],
                               env={"HOMELAB_BACKUP_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output and not lab.secrets_file.exists()

    result = runner.invoke(cli, ["restore", str(archive), "--inventory", str(inventory)])
    assert result.exit_code == 0, result.output
    assert lab.secrets_file.read_text() == secrets_text
    assert stat.S_IMODE(lab.secrets_file.stat().st_mode) == 0o600
    assert "stand-in datastore" in lab.ssh("gpu-node", "python3 -c \"import sqlite3; print(sqlite3.connect("
                                                       "'/var/lib/rancher/k3s/server/db/state.db').execute("
                                                       "'select value from kine').fetchall())\"", sudo=True).stdout
    assert_idempotent("gpu_node", inventory, limit="gpu-node")
