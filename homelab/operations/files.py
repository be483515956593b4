"""Files, directories and links on a host, judged against its probe (homelab.host_state);
secrets shipped so that they never sit where others could read them."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Generator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from pyinfra import logger
from pyinfra.api.arguments import ConnectorArguments
from pyinfra.api.command import FileUploadCommand, FunctionCommand, PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta, operation
from pyinfra.api.state import State
from pyinfra.api.util import try_int
from pyinfra.context import host, state
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import chmod, chown, generate_color_diff

from homelab import op_order
from homelab.host_state import ARTIFACT_RECORD
from homelab.secrets_store import Secret, persist_pending

# Connector arguments that make a command run as another user.
_ELEVATION = ("_sudo", "_sudo_user", "_use_sudo_password", "_sudo_password", "_preserve_sudo_env", "_doas",
              "_doas_user", "_dzdo", "_dzdo_user", "_su_user", "_use_su_login", "_preserve_su_env", "_su_shell")


class PrivateUpload(PyinfraCommand):
    """Ship a file that holds a secret so that it never sits where others could read it.

    pyinfra's own upload with sudo goes through a predictable /tmp name with the
    default mode, then `cp`: a failed copy or a killed run leaves the plaintext there,
    and a new file is world-readable until its chmod. Here the SSH user uploads into a
    fresh `mktemp -d` directory (mode 0700), and the copy is made under umask 077 next to
    the destination, owned and moded, then renamed into place; the private directory is
    removed whatever happens. Secrets a deploy made are written to the store first.
    """

    def __init__(self, body: bytes, dest: str, mode: str, user: str | None = None, group: str | None = None):
        super().__init__()
        self.body, self.dest, self.mode, self.user, self.group = body, dest, mode, user, group

    def __repr__(self) -> str:  # never the body
        return f"PrivateUpload({self.dest!r}, mode={self.mode})"

    def execute(self, state: State, host: Host, connector_arguments: ConnectorArguments) -> bool:
        persist_pending()
        plain = {k: v for k, v in connector_arguments.items() if k not in _ELEVATION}
        ok, output = host.run_shell_command(StringCommand("umask 077 && mktemp -d"), **plain)
        private_dir = output.stdout.strip()
        if not ok or not private_dir.startswith("/"):
            logger.error(f"{host.print_prefix}could not make a private directory for {self.dest}")
            return False
        staged = f"{private_dir}/upload"
        try:
            if not host.put_file(BytesIO(self.body), staged, **plain):
                return False
            new = f"{self.dest}.homelab-new"
            steps = [StringCommand("cp", QuoteString(staged), QuoteString(new))]
            if self.user or self.group:
                steps.append(StringCommand("chown", QuoteString(f"{self.user or ''}:{self.group or ''}"),
                                           QuoteString(new)))
            steps += [StringCommand("chmod", self.mode, QuoteString(new)),
                      StringCommand("mv", "-f", QuoteString(new), QuoteString(self.dest))]
            script = StringCommand("umask", "077", *(bit for step in steps for bit in ("&&", step)))
            ok, output = host.run_shell_command(script, **connector_arguments)
            if not ok:
                logger.error(f"{host.print_prefix}writing {self.dest} failed: {output.stderr}")
                host.run_shell_command(StringCommand("rm", "-f", QuoteString(f"{self.dest}.homelab-new")),
                                       **connector_arguments)
            return ok
        finally:
            host.run_shell_command(StringCommand("rm", "-rf", QuoteString(private_dir)), **plain)


@operation()
def verified_download(src: str, dest: str, sha256: str, known: dict[str, str] | None,
                      mode: str = "644", record: bool = False) -> Generator[PyinfraCommand, None, None]:
    """
    Download `src` to `dest` only if `dest` does not already have `sha256`; the file is
    checked before it is moved into place, so a wrong download never lands at `dest`
    (pyinfra's files.download moves first and checks after).

    + src: URL
    + dest: remote path
    + sha256: the pinned checksum
    + known: dest's state from the host's probe (None: absent): its `files` entry, or its
      `artifacts` entry when `record`
    + mode: permissions of `dest`
    + record: a large file (the k3s binary): recorded like artifact_in_place's, so a later
      probe only stats it instead of reading it whole

    **Example:**

    .. code:: python

        verified_download(name="k3s", src="https://github.com/k3s-io/k3s/releases/download/v1.34.2%2Bk3s1/k3s",
                          dest="/usr/local/bin/k3s", sha256="15811d34...", known=state.file("/usr/local/bin/k3s"),
                          mode="755")
    """
    if known and known.get("sha256") == sha256:
        yield from _mode_only(dest, known, mode, sha256)
        return
    temp = host.get_temp_filename(dest)
    yield StringCommand("curl", "-sSLf", "--retry", "3", "-o", QuoteString(temp), QuoteString(src))
    yield from _checked_move(temp, dest, sha256, mode, f"sha256 of {src} is not the pinned {sha256}")
    if record:
        yield _recorded(dest, sha256)


def _mode_only(dest: str, known: dict[str, str], mode: str, sha256: str) -> Generator[PyinfraCommand, None, None]:
    """`dest` already has `sha256`: at most a chmod."""
    if try_int(known["mode"]) == try_int(mode):  # type: ignore[no-untyped-call]  # unannotated in pyinfra
        host.noop(f"{dest} has sha256 {sha256[:12]}...")
        return
    yield chmod(dest, mode)


def _checked_move(temp: str, dest: str, sha256: str, mode: str, failure: str) -> Generator[PyinfraCommand, None, None]:
    """`temp` checked against `sha256` on the host (removed, and the run failed with `failure`,
    when it differs), then moded and moved to `dest`: a wrong file never lands there."""
    yield StringCommand(
        "echo", QuoteString(f"{sha256}  {temp}"), "|", "sha256sum", "--check", "--quiet", "||",
        "{", "rm", "-f", QuoteString(temp), ";", "echo", QuoteString(failure), ">&2", ";", "exit", "1", ";", "}")
    yield chmod(temp, mode)
    yield StringCommand("mv", QuoteString(temp), QuoteString(dest))


@operation()
def artifact_in_place(src: str, dest: str, sha256: str, known: dict[str, str] | None,
                      mode: str = "644") -> Generator[PyinfraCommand, None, None]:
    """
    A large file from the control machine (a k3s binary, an image archive) at `dest` with
    the pinned `sha256`. It is checked on the host before it moves into place, and recorded
    in host_state.ARTIFACT_RECORD with its size, mtime and inode: a later probe only stats
    it, so a no-op run neither reads it there nor uploads it again (pyinfra's files.put asks
    the host for its sha1 each run). Replaced or changed on the host: placed again.

    + src: local path (its sha256 checked by the caller)
    + dest: remote path
    + sha256: the pinned checksum
    + known: dest's entry in the probe's `artifacts` (None: absent)
    + mode: permissions of `dest`

    **Example:**

    .. code:: python

        artifact_in_place(name="Air-gap images", src="/Volumes/k3s/k3s-airgap-images-amd64.tar.zst",
                          dest="/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst",
                          sha256="9d1d...", known=state.artifacts[IMAGES])
    """
    if known and known.get("sha256") == sha256:
        yield from _mode_only(dest, known, mode, sha256)
        return
    temp = host.get_temp_filename(dest)
    yield FileUploadCommand(src, temp, remote_temp_filename=host.get_temp_filename(temp))
    yield from _checked_move(temp, dest, sha256, mode, f"{dest}: the upload's sha256 is not {sha256}")
    yield _recorded(dest, sha256)


def _recorded(dest: str, sha256: str) -> StringCommand:
    """`dest`'s line in host_state.ARTIFACT_RECORD, replaced: its sha256 with its size,
    mtime and inode as they are now (just placed and checked)."""
    record = ARTIFACT_RECORD
    return StringCommand(
        "mkdir", "-p", QuoteString(record.rsplit("/", 1)[0]), "&&", "{",
        "awk", "-v", QuoteString(f"p={dest}"), QuoteString("$5 != p"), QuoteString(record), "2>/dev/null", ";",
        "printf", QuoteString("%s %s %s\\n"), QuoteString(sha256),
        f"\"$(stat -c '%s %Y %i' {shlex.quote(dest)})\"", QuoteString(dest), ";",
        "}", ">", QuoteString(f"{record}.new"), "&&", "mv", QuoteString(f"{record}.new"), QuoteString(record))


def _persist_pending(*_: Any) -> bool:
    persist_pending()
    return True


@operation()
def file_in_place(dest: str, content: str | Secret, known: dict[str, str] | None, mode: str = "600",
                  user: str | None = "root", group: str | None = "root",
                  from_secrets: bool = False) -> Generator[PyinfraCommand, None, None]:
    """
    A whole file with this content, mode and owner, judged against `known`: the file's
    entry in the host's probe (homelab.host_state), which looked at every managed file in
    one round trip. A Secret's content is never shown; other content is diffed with --diff.

    + dest: remote path
    + content: the whole file (str, or a Secret)
    + known: the probe's entry for dest (None: the file does not exist)
    + mode, user, group: permissions and owner
    + from_secrets: the content is derived from secrets (a public key): secrets this run
      made are written to the store before it is shipped

    **Example:**

    .. code:: python

        state = host_state.snapshot(host)
        file_in_place(name="a.yaml", dest="/etc/a.yaml", content=text, known=state.file("/etc/a.yaml"))
    """
    secret = isinstance(content, Secret)
    body = (content.reveal() if isinstance(content, Secret) else content).encode()
    if known is None or known["sha256"] != hashlib.sha256(body).hexdigest():
        if state.config.DIFF and not secret:
            current = host.get_fact(FileContents, path=dest) if known else []
            host.log(f"Will {'modify' if known else 'create'} {dest}", logger.info)
            for line in generate_color_diff([f"{line}\n" for line in current or []], body.decode().splitlines(True)):
                logger.info("  %s", line)
        if secret:
            yield PrivateUpload(body, dest, mode, user, group)
            return
        if from_secrets:
            yield FunctionCommand(_persist_pending, (), {})
        yield FileUploadCommand(BytesIO(body), dest, remote_temp_filename=host.get_temp_filename(dest))
        known = None  # a fresh upload: owner and mode set in full
    yield from _owner_and_mode(dest, known, mode, user, group)


def _owner_and_mode(path: str, known: dict[str, str] | None, mode: str, user: str | None,
                    group: str | None, recursive: bool = False) -> Generator[StringCommand, None, None]:
    """chown and chmod for what differs from the probe's `known` (all of it when None);
    an owner or group given as None is left as it is, one given as a number is compared
    with the numeric id (a pod's user has no name on the node)."""
    def differs(wanted: str | None, name_key: str, id_key: str) -> bool:
        return bool(wanted) and known is not None and known.get(id_key if str(wanted).isdigit() else name_key) != wanted

    if (user or group) and (known is None or differs(user, "user", "uid") or differs(group, "group", "gid")):
        yield chown(path, user, group, recursive=recursive)
    if known is None or try_int(known["mode"]) != try_int(mode):  # type: ignore[no-untyped-call]  # unannotated in pyinfra
        yield chmod(path, mode)


@operation()
def file_merged(dest: str, current: str | None, content: str) -> Generator[PyinfraCommand, None, None]:
    """
    A file someone else owns too (the Windows user's .wslconfig), with `content` computed
    by merging what this project manages into `current`, the file as a fact just read it.
    Written only when the merge changes it; owner and mode are left alone (on Windows'
    drive WSL maps them anyway).

    + dest: remote path
    + current: the file's text now (None: it does not exist)
    + content: the merged text

    **Example:**

    .. code:: python

        file_merged(name=".wslconfig", dest="/mnt/c/Users/owner/.wslconfig", current=text,
                    content=merge_ini(text, {"wsl2": {"memory": "24GB"}}))
    """
    if current == content:
        host.noop(f"{dest} has the managed settings")
        return
    if state.config.DIFF:
        host.log(f"Will {'modify' if current is not None else 'create'} {dest}", logger.info)
        for line in generate_color_diff((current or "").splitlines(True), content.splitlines(True)):
            logger.info("  %s", line)
    yield FileUploadCommand(BytesIO(content.encode()), dest, remote_temp_filename=host.get_temp_filename(dest))


@dataclass(frozen=True)
class ManagedFile:
    """A whole file a component owns: what `files_in_place` puts there."""

    name: str  # the operation's name
    dest: str
    content: str | Secret
    mode: str = "644"
    user: str | None = "root"
    group: str | None = "root"
    from_secrets: bool = False  # derived from secrets (a public key): see file_in_place


def files_in_place(*managed: ManagedFile | None,
                   known: dict[str, dict[str, str] | None]) -> dict[ManagedFile, OperationMeta]:
    """All of a component's files, judged against `known` (the host's probe: its
    `files`), one file_in_place operation each, in order (None entries are skipped).
    Returns each file's operation."""
    done = {}
    for position, m in enumerate(managed):
        if m is None:
            continue
        with op_order.distinct_call(host, position, m.dest):
            # a file the probe was not asked about is a KeyError here, not an upload on every run
            done[m] = file_in_place(name=m.name, dest=m.dest, content=m.content, known=known[m.dest], mode=m.mode,
                                    user=m.user, group=m.group, from_secrets=m.from_secrets)
    return done


@operation()
def directory_in_place(path: str, known: dict[str, str] | None, mode: str = "755", user: str | None = None,
                       group: str | None = None, recursive: bool = False) -> Generator[PyinfraCommand, None, None]:
    """
    A directory with this mode (and owner, when given), judged against the probe.

    + path: remote path
    + known: the probe's entry for it (None: absent)
    + mode, user, group: permissions and owner (None: left as they are; a number is an id)
    + recursive: a changed owner is given to everything below as well (judged by the directory)

    **Example:**

    .. code:: python

        directory_in_place(name="Config directory", path="/etc/rancher/k3s", known=state.dirs["/etc/rancher/k3s"])
    """
    if known is None:
        yield StringCommand("mkdir", "-p", QuoteString(path))
    yield from _owner_and_mode(path, known, mode, user, group, recursive)


@operation()
def link_in_place(path: str, target: str, known: str | None) -> Generator[PyinfraCommand, None, None]:
    """
    A symlink at `path` to `target`, judged against the probe (its readlink).

    + path, target: the link and where it points
    + known: what the link points to now (None: no link there)

    **Example:**

    .. code:: python

        link_in_place(name="kubectl", path="/usr/local/bin/kubectl", target="/usr/local/bin/k3s",
                      known=state.links["/usr/local/bin/kubectl"])
    """
    if known == target:
        host.noop(f"{path} -> {target}")
        return
    yield StringCommand("ln", "-sfn", QuoteString(target), QuoteString(path))


@operation()
def file_absent(path: str, known: dict[str, str] | None) -> Generator[PyinfraCommand, None, None]:
    """
    No file at `path`.

    + path: remote path
    + known: the probe's entry for it (None: absent already)

    **Example:**

    .. code:: python

        file_absent(name="No alerts widget", path=WIDGET, known=state.file(WIDGET))
    """
    if known is None:
        host.noop(f"{path} is absent")
        return
    yield StringCommand("rm", "-f", QuoteString(path))


def _download(state: State, host: Host, remote: str, local: str) -> bool:
    target = Path(local)
    target.parent.mkdir(parents=True, exist_ok=True)
    # with the host's sudo (its group data): the file may be readable by its owner only (the
    # gateway's CA lives in a directory of the gateway pod's user)
    return host.get_file(remote, str(target), _sudo=bool(host.data.get("_sudo")))


@operation()
def fetched_file(remote: str, local: str, known: dict[str, str] | None) -> Generator[PyinfraCommand, None, None]:
    """
    A public file from the host copied to the control machine (a CA's root certificate),
    again only when it changed. When the host does not have it yet, says so and waits
    for a later run.

    + remote: path on the host
    + local: path on the control machine
    + known: the remote file's state from the host's probe (None: not there yet)

    **Example:**

    .. code:: python

        fetched_file(name="Gateway root CA", remote="/var/lib/homelab/caddy/caddy/pki/authorities/local/root.crt",
                     local="build/gpu-node/gateway-root-ca.crt", known=state.file(ROOT_CERT))
    """
    remote_sha = known["sha256"] if known else None
    if not remote_sha:
        logger.warning(f"{host.print_prefix}{remote} does not exist yet (the service creates it when it first "
                       "starts): run the deploy again later to fetch it")
        host.noop(f"{remote} not there yet")
        return
    target = Path(local)
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == remote_sha:
        host.noop(f"{local} is up to date")
        return
    yield FunctionCommand(_download, (remote, local), {})


def line_set(text: str | None, line: str, matches: Callable[[str], object]) -> str:
    """`text` with the first line `matches` accepts replaced by `line` (appended if none)."""
    lines = (text or "").splitlines()
    for index, existing in enumerate(lines):
        if matches(existing):
            lines[index] = line
            break
    else:
        lines.append(line)
    return "\n".join(lines) + "\n"
