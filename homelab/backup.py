"""`python tasks.py backup` / `restore`: what the lab cannot re-create from this
repository, in one timestamped archive on the control machine.

- from the k3s server: /etc/rancher/k3s (config, cluster token, kubeconfig), the
  auto-deploy manifests, a consistent snapshot of the datastore (k3s's SQLite, through
  SQLite's online backup), and Grafana's volume when it exists;
- LiteLLM's database: none (the proxy runs without one; recorded as such);
- the secrets store.

The archive (format 2) is a tar of: manifest.json (readable: what is inside, and the
sha256 of every other member), manifest.hmac, and the encrypted members. One key pair
per archive, derived from the passphrase and the archive's own salt (scrypt): Fernet for
the members, HMAC-SHA256 over the manifest. A member from another archive does not
decrypt, an altered manifest does not verify, a cut archive is named as such: restore
refuses each before it changes anything.

On the server, the snapshot lives in a fresh 0700 directory under umask 077 and is
removed whatever happens (a failed tar, a full disk, a dropped connection). Restore
stops k3s only once the archive is on the server and readable, and starts it again
whatever happens; the secrets store is replaced atomically, last.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import shlex
import subprocess
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from homelab import k3s
from homelab.local_files import write_private
from homelab.ssh import ssh_command, sudo_prefix

if TYPE_CHECKING:
    from homelab.settings import Common, GpuNode

FORMAT = 2
DATASTORE = "/var/lib/rancher/k3s/server/db/state.db"
WORK_DIR = "/var/lib/homelab/backup"  # root's, 0700: the server-side snapshot and restore staging
GRAFANA_GLOB = "/var/lib/rancher/k3s/storage/*grafana*"
SNAPSHOT_MEMBER = "homelab-backup/state.db"  # the datastore snapshot inside the server tar
# What is taken from the k3s server, relative to / (tar's view).
SERVER_PATHS = ["etc/rancher/k3s", k3s.MANIFESTS_DIR.lstrip("/")]
SECRETS_MEMBER = "secrets.yaml.enc"


class BackupError(Exception):
    pass


def _keys(passphrase: str, salt: bytes) -> tuple[Fernet, bytes]:
    material = Scrypt(salt=salt, length=64, n=2**15, r=8, p=1).derive(passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(material[:32])), material[32:]


def _sign(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def server_member(server_name: str) -> str:
    return f"{server_name}.tar.gz.enc"


def _ssh(cfg: Common, host_name: str, remote: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(ssh_command(cfg, host_name, remote), input=stdin, capture_output=True, timeout=900)


def _as_root(cfg: Common, script: str) -> str:
    return f"{sudo_prefix(cfg)}sh -c {shlex.quote(script)}"


def snapshot_script() -> str:
    """Runs as root on the server: tar of the server's files and a datastore snapshot to
    stdout, what was found to stderr (`homelab-backup: ...` lines). Paths travel as
    positional parameters ("$@"), never re-split, whatever the server's names hold."""
    paths = " ".join(shlex.quote(p) for p in SERVER_PATHS)
    work = shlex.quote(WORK_DIR)
    snapshot_dir = shlex.quote(str(Path(SNAPSHOT_MEMBER).parent))
    python = ("import sqlite3, sys\ntry:\n    d = sqlite3.connect(sys.argv[2])\n"
              "    sqlite3.connect(sys.argv[1]).backup(d)\n    d.close()\nexcept sqlite3.Error as e:\n"
              f"    sys.exit(f'snapshot of the datastore failed: {{e}} (free space under {WORK_DIR}?)')")
    return (
        "set -e; umask 077; "
        f"mkdir -p {work}; chmod 700 {work}; d=$(mktemp -d {work}/backup.XXXXXX); "
        "trap 'rm -rf \"$d\"' EXIT; trap 'exit 1' HUP INT TERM; "
        f"mkdir -p \"$d\"/{snapshot_dir}; set -- {paths}; "
        f"for g in {GRAFANA_GLOB}; do [ -d \"$g\" ] || continue; "
        "printf 'homelab-backup: grafana %s\\n' \"$g\" >&2; set -- \"$@\" \"${g#/}\"; done; "
        f"if [ -f {shlex.quote(DATASTORE)} ]; then "
        f"python3 -c {shlex.quote(python)} {shlex.quote(DATASTORE)} \"$d\"/{SNAPSHOT_MEMBER}; "
        "echo 'homelab-backup: datastore' >&2; "
        f"tar -C / -czf \"$d/server.tar.gz\" \"$@\" -C \"$d\" {SNAPSHOT_MEMBER}; "
        "else tar -C / -czf \"$d/server.tar.gz\" \"$@\"; fi; "
        "cat \"$d/server.tar.gz\""
    )


def take(server_name: str, cfg: GpuNode, secrets_file: Path, out_dir: Path, passphrase: str,
         log: Callable[[str], object] = print) -> Path:
    """Write backups/homelab-<UTC time>.tar and return its path."""
    if not secrets_file.exists():
        raise BackupError(f"no secrets store at {secrets_file}")
    log(f"{server_name}: snapshot of the k3s datastore, archive of its config and manifests")
    proc = _ssh(cfg, server_name, _as_root(cfg, snapshot_script()))
    found = [line.removeprefix("homelab-backup: ") for line in proc.stderr.decode(errors="replace").splitlines()
             if line.startswith("homelab-backup: ")]
    if proc.returncode != 0:
        problems = [line for line in proc.stderr.decode(errors="replace").splitlines()
                    if not line.startswith("homelab-backup: ")]
        raise BackupError(f"{server_name}: the server side of the backup failed ({proc.returncode}): "
                          f"{' / '.join(problems)[-400:] or 'no message'}; nothing was written")
    contents = {"k3s config and token": "/etc/rancher/k3s", "manifests": k3s.MANIFESTS_DIR,
                "k3s datastore": (f"{DATASTORE} (SQLite online backup)" if "datastore" in found else
                                  f"skipped: no {DATASTORE} (embedded etcd? use `k3s etcd-snapshot save`)"),
                "grafana": ", ".join(f.removeprefix("grafana ") for f in found if f.startswith("grafana "))
                or "skipped: no Grafana volume on the node",
                "litellm database": "none: LiteLLM runs without a database"}
    log("encrypting with the passphrase")
    salt = os.urandom(16)
    fernet, mac_key = _keys(passphrase, salt)
    members = {server_member(server_name): fernet.encrypt(proc.stdout),
               SECRETS_MEMBER: fernet.encrypt(secrets_file.read_bytes())}
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    manifest = json.dumps({"format": FORMAT, "created": stamp, "server": server_name, "contents": contents,
                           "secrets_store": str(secrets_file), "salt": base64.b64encode(salt).decode(),
                           "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}},
                          indent=2).encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"homelab-{stamp}.tar"
    write_private(archive, _tar({"manifest.json": manifest, "manifest.hmac": _sign(mac_key, manifest).encode(),
                                  **members}))
    return archive


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read(archive: Path) -> dict[str, bytes]:
    """The archive's members; a damaged or cut archive is a BackupError, not a traceback."""
    try:
        with tarfile.open(archive) as tar:
            members = {}
            for member in tar.getmembers():
                handle = tar.extractfile(member)
                if handle is None:
                    raise BackupError(f"{archive}: unexpected member {member.name!r}")
                members[member.name] = handle.read()
            return members
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{archive} is damaged or cut short ({type(exc).__name__}): nothing was changed") from exc


def open_archive(archive: Path, passphrase: str) -> tuple[dict[str, Any], Fernet, dict[str, bytes]]:
    """The verified manifest, the archive's Fernet and its members; refuses anything that
    does not verify, before anything is changed."""
    parts = read(archive)
    try:
        manifest_bytes, signature = parts["manifest.json"], parts["manifest.hmac"].decode()
        manifest = json.loads(manifest_bytes)
        salt = base64.b64decode(manifest["salt"])
        listed = dict(manifest["members"])
    except (KeyError, ValueError, TypeError):
        raise BackupError(
            f"{archive} is not a homelab backup of format {FORMAT} (or is damaged): nothing was changed") from None
    fernet, mac_key = _keys(passphrase, salt)
    if not hmac.compare_digest(_sign(mac_key, manifest_bytes), signature):
        raise BackupError("wrong passphrase, or the archive was altered (its manifest does not verify): "
                          "nothing was changed")
    for name, digest in listed.items():
        if name not in parts:
            raise BackupError(f"{name} is missing: {archive} is damaged or cut short: nothing was changed")
        if hashlib.sha256(parts[name]).hexdigest() != digest:
            raise BackupError(f"{name} is not the member this archive was made with (swapped or damaged): "
                              "nothing was changed")
    extra = set(parts) - set(listed) - {"manifest.json", "manifest.hmac"}
    if extra:
        raise BackupError(f"{archive} holds members its manifest does not list ({', '.join(sorted(extra))}): "
                          "nothing was changed")
    return manifest, fernet, parts


def decrypt(fernet: Fernet, data: bytes, name: str) -> bytes:
    try:
        return fernet.decrypt(data)
    except InvalidToken:
        raise BackupError(f"{name} does not decrypt with this archive's key: nothing was changed") from None


def restore_script(unit: str) -> str:
    """Runs as root on the server, the server tar on stdin: staged privately and checked
    while k3s still runs; then k3s stopped, files and datastore put back; k3s started again
    whatever happens."""
    snapshot_dir = str(Path(SNAPSHOT_MEMBER).parent)
    return (
        "set -e; umask 077; "
        f"mkdir -p {shlex.quote(WORK_DIR)}; chmod 700 {shlex.quote(WORK_DIR)}; "
        f"d=$(mktemp -d {shlex.quote(WORK_DIR)}/restore.XXXXXX); stopped=''; "
        f"trap 'rc=$?; rm -rf \"$d\"; [ -z \"$stopped\" ] || systemctl start {unit}; exit $rc' EXIT; "
        "trap 'exit 1' HUP INT TERM; "
        "cat > \"$d/server.tar.gz\"; tar -tzf \"$d/server.tar.gz\" > \"$d/list\"; "
        f"systemctl stop {unit}; stopped=1; "
        f"tar -C / -xzf \"$d/server.tar.gz\" --exclude={snapshot_dir}; "
        f"if grep -qx {SNAPSHOT_MEMBER} \"$d/list\"; then tar -C \"$d\" -xzf \"$d/server.tar.gz\" {SNAPSHOT_MEMBER}; "
        f"mkdir -p {Path(DATASTORE).parent}; mv -f \"$d\"/{SNAPSHOT_MEMBER} {DATASTORE}; "
        f"rm -f {DATASTORE}-wal {DATASTORE}-shm; echo 'homelab-restore: datastore' >&2; fi"
    )


def restore(archive: Path, cfg: GpuNode, server_name: str, secrets_file: Path, passphrase: str,
            log: Callable[[str], object] = print) -> dict[str, Any]:
    manifest, fernet, parts = open_archive(archive, passphrase)
    if manifest["server"] != server_name:
        raise BackupError(f"the archive is from {manifest['server']}, the inventory's k3s server is {server_name}")
    secrets = decrypt(fernet, parts[SECRETS_MEMBER], SECRETS_MEMBER)
    server_tar = decrypt(fernet, parts[server_member(server_name)], server_member(server_name))
    log(f"{server_name}: putting k3s's files and datastore back (k3s stopped meanwhile)")
    proc = _ssh(cfg, server_name, _as_root(cfg, restore_script("k3s")), stdin=server_tar)
    if proc.returncode != 0:
        raise BackupError(f"{server_name}: the server side of the restore failed ({proc.returncode}): "
                          f"{proc.stderr.decode(errors='replace').strip()[-400:] or 'no message'}; k3s was started "
                          "again; the secrets store here is unchanged")
    log("secrets store: decrypted and written (mode 0600)")
    write_private(secrets_file, secrets)
    return manifest
