"""`tasks.py backup` / `restore` on the lab: take a backup, wipe what it holds from the
k3s server and this machine, restore, and the next deploy changes nothing; and every way
it can go wrong leaves the server and the store as they were, with a clear error: a full
disk on the server (a 4 KiB tmpfs), a server side that fails with k3s stopped, a member
swapped in from another archive, an edited manifest, a cut archive."""

from __future__ import annotations

import io
import json
import stat
import tarfile

import pytest
from click.testing import CliRunner

from homelab import backup as backups
from tasks import cli
from tests.support import assert_idempotent

pytestmark = pytest.mark.lab
PASSPHRASE = "correct horse battery staple"
DATASTORE_QUERY = ("python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/rancher/k3s/server/db/state.db')"
                   ".execute('select value from kine').fetchall())\"")


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("HOMELAB_BACKUP_PASSPHRASE", PASSPHRASE)
    return CliRunner()


def take(runner, inventory, tmp_path):
    result = runner.invoke(cli, ["backup", "--inventory", str(inventory), "--to", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path / result.output.strip().splitlines()[-1].split("/")[-1]


def restore(runner, archive, inventory):
    return runner.invoke(cli, ["restore", str(archive), "--inventory", str(inventory)])


def k3s_state(lab) -> tuple[str, str]:
    return (lab.ssh("gpu-node", "systemctl is-active k3s", check=False).stdout.strip(),
            lab.ssh("gpu-node", "systemctl show -p MainPID --value k3s").stdout.strip())


def assert_refused_and_unchanged(lab, result, before_store: bytes, before_k3s, *fragments):
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert lab.secrets_file.read_bytes() == before_store
    assert k3s_state(lab) == before_k3s


def assert_tampered_archive_refused(lab, runner, inventory, archive, parts: dict[str, bytes], *fragments):
    """An archive made of `parts` is refused by restore, and nothing changes."""
    archive.write_bytes(backups._tar(parts))
    store, k3s = lab.secrets_file.read_bytes(), k3s_state(lab)
    assert_refused_and_unchanged(lab, restore(runner, archive, inventory), store, k3s, *fragments)


def test_backup_wipe_restore_then_nothing_to_change(lab, converged_gpu_node, inventory, tmp_path, runner):
    assert "stand-in datastore" in lab.ssh("gpu-node", DATASTORE_QUERY, sudo=True).stdout
    archive = take(runner, inventory, tmp_path)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    parts = backups.read(archive)
    assert set(parts) == {"manifest.json", "manifest.hmac", "gpu-node.tar.gz.enc", "secrets.yaml.enc"}
    assert b"k3s_token" not in parts["secrets.yaml.enc"], "the secrets store is encrypted"
    manifest, fernet, _ = backups.open_archive(archive, PASSPHRASE)
    with tarfile.open(fileobj=io.BytesIO(backups.decrypt(fernet, parts["gpu-node.tar.gz.enc"], "server"))) as tar:
        names = tar.getnames()
    assert "etc/rancher/k3s/config.yaml" in names and backups.SNAPSHOT_MEMBER in names
    assert any(n.endswith("homelab-vllm.yaml") for n in names)
    assert lab.ssh("gpu-node", f"ls -A {backups.WORK_DIR}", sudo=True).stdout.strip() == "", "snapshot left behind"
    secrets_text = lab.secrets_file.read_text()
    inode = lab.secrets_file.stat().st_ino

    lab.ssh("gpu-node", "rm -rf /etc/rancher/k3s /var/lib/rancher/k3s/server/manifests "
                        "/var/lib/rancher/k3s/server/db/state.db", sudo=True)
    lab.secrets_file.write_text("# another machine's store\n")

    wrong = CliRunner().invoke(cli, ["restore", str(archive), "--inventory", str(inventory)],
                               env={"HOMELAB_BACKUP_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    assert lab.secrets_file.read_text() == "# another machine's store\n"

    result = restore(runner, archive, inventory)
    assert result.exit_code == 0, result.output
    assert lab.secrets_file.read_text() == secrets_text
    assert stat.S_IMODE(lab.secrets_file.stat().st_mode) == 0o600
    assert lab.secrets_file.stat().st_ino != inode, "the store is replaced, not rewritten in place"
    assert not [p for p in lab.secrets_file.parent.iterdir() if ".tmp" in p.name]
    assert "stand-in datastore" in lab.ssh("gpu-node", DATASTORE_QUERY, sudo=True).stdout
    assert k3s_state(lab)[0] == "active"
    assert_idempotent("gpu_node", inventory, limit="gpu-node")


def test_a_full_disk_on_the_server_fails_the_backup_and_leaves_nothing(lab, converged_gpu_node, inventory, tmp_path,
                                                                      runner):
    lab.ssh("gpu-node", f"mkdir -p {backups.WORK_DIR} && mount -t tmpfs -o size=4k,mode=700 tmpfs {backups.WORK_DIR}",
            sudo=True)
    try:
        result = runner.invoke(cli, ["backup", "--inventory", str(inventory), "--to", str(tmp_path / "out")])
        assert result.exit_code == 1, result.output
        assert "the server side of the backup failed" in result.output and "nothing was written" in result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
        assert lab.ssh("gpu-node", f"ls -A {backups.WORK_DIR}", sudo=True).stdout.strip() == ""
    finally:
        lab.ssh("gpu-node", f"umount {backups.WORK_DIR}", sudo=True)
    assert k3s_state(lab)[0] == "active"


def test_a_restore_that_fails_on_the_server_starts_k3s_again(lab, converged_gpu_node, inventory, tmp_path, runner):
    archive = take(runner, inventory, tmp_path)
    before_store = lab.secrets_file.read_bytes()
    manifests = "/var/lib/rancher/k3s/server/manifests"
    lab.ssh("gpu-node", f"mount -t tmpfs -o ro,size=4k tmpfs {manifests}", sudo=True)
    try:
        result = restore(runner, archive, inventory)
    finally:
        lab.ssh("gpu-node", f"umount {manifests}", sudo=True)
    assert result.exit_code == 1, result.output
    assert "the server side of the restore failed" in result.output and "k3s was started again" in result.output
    assert k3s_state(lab)[0] == "active", "k3s must run again whatever happened"
    assert lab.secrets_file.read_bytes() == before_store
    assert lab.ssh("gpu-node", f"ls -A {backups.WORK_DIR}", sudo=True).stdout.strip() == ""


def test_a_member_swapped_in_from_another_archive_is_refused(lab, converged_gpu_node, inventory, tmp_path, runner):
    first = take(runner, inventory, tmp_path / "a")
    second = take(runner, inventory, tmp_path / "b")
    parts = backups.read(first)
    parts["secrets.yaml.enc"] = backups.read(second)["secrets.yaml.enc"]
    assert_tampered_archive_refused(lab, runner, inventory, tmp_path / "swapped.tar", parts,
                                    "secrets.yaml.enc is not the member this archive was made with")


def test_an_edited_manifest_is_refused(lab, converged_gpu_node, inventory, tmp_path, runner):
    parts = backups.read(take(runner, inventory, tmp_path))
    manifest = json.loads(parts["manifest.json"])
    manifest["contents"]["k3s datastore"] = "skipped: someone said so"
    parts["manifest.json"] = json.dumps(manifest).encode()
    assert_tampered_archive_refused(lab, runner, inventory, tmp_path / "edited.tar", parts, "the archive was altered")


def test_a_cut_archive_is_named_as_such(lab, converged_gpu_node, inventory, tmp_path, runner):
    archive = take(runner, inventory, tmp_path)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 3])
    store, k3s = lab.secrets_file.read_bytes(), k3s_state(lab)
    result = restore(runner, cut, inventory)
    assert_refused_and_unchanged(lab, result, store, k3s,
                                 "is damaged or cut short", "nothing was changed")
