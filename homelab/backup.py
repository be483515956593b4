"""`python tasks.py backup` / `restore`: what the lab cannot re-create from this
repository, in one timestamped archive on the control machine.

- from the k3s server: /etc/rancher/k3s (config, cluster token, kubeconfig), the
  auto-deploy manifests, a consistent snapshot of the datastore (k3s's SQLite, through
  SQLite's online backup), and Grafana's volume when it exists;
- LiteLLM's database: none (the proxy runs without one; recorded as such);
- the secrets store.

Everything but the table of contents is encrypted with a passphrase (scrypt + Fernet):
the cluster's files hold secrets too (the token, the admin kubeconfig, the Secrets in
the datastore).

Restore puts the files back (k3s stopped while its datastore is replaced) and the
secrets store; the next deploy then finds everything converged.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from homelab import k3s
from homelab.doctor import ssh_command

DATASTORE = "/var/lib/rancher/k3s/server/db/state.db"
SNAPSHOT = "/var/lib/homelab/backup/state.db"
GRAFANA_GLOB = "/var/lib/rancher/k3s/storage/*grafana*"
# What is taken from the k3s server, relative to / (tar's view).
SERVER_PATHS = ["etc/rancher/k3s", k3s.MANIFESTS_DIR.lstrip("/")]


class BackupError(Exception):
    pass


def _key(passphrase: str, salt: bytes) -> bytes:
    return base64.urlsafe_b64encode(Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode()))


def encrypt(data: bytes, passphrase: str) -> bytes:
    salt = os.urandom(16)
    return salt + Fernet(_key(passphrase, salt)).encrypt(data)


def decrypt(blob: bytes, passphrase: str) -> bytes:
    try:
        return Fernet(_key(passphrase, blob[:16])).decrypt(blob[16:])
    except InvalidToken:
        raise BackupError("wrong passphrase (or a damaged archive): the secrets store could not be decrypted")


def _ssh(cfg, host_name: str, remote: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(ssh_command(cfg, host_name, remote), input=stdin, capture_output=True, timeout=900)
    if proc.returncode != 0:
        raise BackupError(f"{host_name}: `{remote[:80]}` failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    return proc.stdout


def _sudo(cfg) -> str:
    return "sudo -n " if cfg.sudo else ""


def _q(path) -> str:
    return shlex.quote(str(path))


def take(server_name: str, cfg, secrets_file: Path, out_dir: Path, passphrase: str, log=print) -> Path:
    """Write backups/homelab-<UTC time>.tar and return its path."""
    sudo = _sudo(cfg)
    log(f"{server_name}: snapshot of the k3s datastore")
    copy = (f"import sqlite3; s = sqlite3.connect({json.dumps(DATASTORE)}); "
            f"d = sqlite3.connect({json.dumps(SNAPSHOT)}); s.backup(d); d.close()")
    # the glob stays unquoted (the shell expands it); every path found is quoted below
    snapshot = (f"{sudo}mkdir -p {_q(Path(SNAPSHOT).parent)} && if [ -f {_q(DATASTORE)} ]; then {sudo}python3 -c "
                f"{_q(copy)} && echo datastore; fi; "
                f"for g in {GRAFANA_GLOB}; do [ -d \"$g\" ] && echo \"grafana $g\"; done; true")
    found = _ssh(cfg, server_name, snapshot).decode().split("\n")
    paths = list(SERVER_PATHS)
    contents = {"k3s config and token": "/etc/rancher/k3s", "manifests": k3s.MANIFESTS_DIR}
    if "datastore" in found:
        paths.append(SNAPSHOT.lstrip("/"))
        contents["k3s datastore"] = f"{DATASTORE} (SQLite online backup)"
    else:
        contents["k3s datastore"] = f"skipped: no {DATASTORE} (embedded etcd? use `k3s etcd-snapshot save`)"
    grafana = [line.split(" ", 1)[1] for line in found if line.startswith("grafana ")]
    if grafana:
        paths += [g.lstrip("/") for g in grafana]
        contents["grafana"] = ", ".join(grafana)
    else:
        contents["grafana"] = "skipped: no Grafana volume on the node"
    contents["litellm database"] = "none: LiteLLM runs without a database"
    log(f"{server_name}: archiving {', '.join('/' + p for p in paths)}")
    server_tar = _ssh(cfg, server_name, f"{sudo}tar -C / -czf - {' '.join(_q(p) for p in paths)} && "
                                        f"{sudo}rm -f {_q(SNAPSHOT)}")
    if not secrets_file.exists():
        raise BackupError(f"no secrets store at {secrets_file}")
    log("encrypting with the passphrase")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    manifest = {"created": stamp, "server": server_name, "contents": contents, "secrets_store": str(secrets_file)}
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"homelab-{stamp}.tar"
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
        for name, data in (("manifest.json", json.dumps(manifest, indent=2).encode()),
                           (f"{server_name}.tar.gz.enc", encrypt(server_tar, passphrase)),
                           ("secrets.yaml.enc", encrypt(secrets_file.read_bytes(), passphrase))):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return archive


def read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


def restore(archive: Path, cfg, server_name: str, secrets_file: Path, passphrase: str, log=print) -> dict:
    parts = read(archive)
    manifest = json.loads(parts["manifest.json"])
    secrets = decrypt(parts["secrets.yaml.enc"], passphrase)  # first: a wrong passphrase changes nothing
    server_tar = decrypt(parts[f"{manifest['server']}.tar.gz.enc"], passphrase)
    if manifest["server"] != server_name:
        raise BackupError(f"the archive is from {manifest['server']}, the inventory's k3s server is {server_name}")
    sudo = _sudo(cfg)
    log(f"{server_name}: stopping k3s, putting files back")
    _ssh(cfg, server_name, f"{sudo}systemctl stop k3s 2>/dev/null; {sudo}tar -C / -xzf -",
         stdin=server_tar)
    if not manifest["contents"]["k3s datastore"].startswith("skipped"):
        log(f"{server_name}: datastore back in place")
        _ssh(cfg, server_name, f"{sudo}mkdir -p {_q(Path(DATASTORE).parent)} && "
                               f"{sudo}mv {_q(SNAPSHOT)} {_q(DATASTORE)} && "
                               f"{sudo}rm -f {_q(DATASTORE + '-wal')} {_q(DATASTORE + '-shm')}")
    _ssh(cfg, server_name, f"{sudo}systemctl start k3s")
    log("secrets store: decrypted and written (mode 0600)")
    secrets_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets)
    return manifest
