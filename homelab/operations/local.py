"""Files on the control machine (the MacBook) that a host's deploy writes, checked
in-process: no command, no fact."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

from pyinfra.api.command import FunctionCommand, PyinfraCommand
from pyinfra.api.operation import operation
from pyinfra.context import host

from homelab.local_files import write_private
from homelab.secrets_store import Secret, persist_pending


def _write_local(path: str, body: bytes, mode: int) -> bool:
    persist_pending()
    write_private(path, body, mode=mode, dir_mode=None)
    return True


@operation()
def local_file(path: str, content: str | bytes | Secret[str] | Secret[bytes],
               mode: int = 0o644) -> Generator[PyinfraCommand, None, None]:
    """
    A file on the control machine (the MacBook), written by a remote host's deploy: a
    script for Windows, a fetched kubeconfig. Changes only when content or mode differ.

    + path: local path (relative paths are relative to where pyinfra runs)
    + content: the whole file (text or bytes); a Secret when it holds one (never shown)
    + mode: permissions, 0o600 for anything secret

    **Example:**

    .. code:: python

        local_file(name="Windows script", path="build/gpu-node/windows-setup.ps1", content=script)
    """
    body = content.reveal() if isinstance(content, Secret) else content
    body = body.encode() if isinstance(body, str) else body
    target = Path(path).expanduser()
    if target.is_file() and target.read_bytes() == body and (target.stat().st_mode & 0o777) == mode:
        host.noop(f"{path} is up to date")
        return
    yield FunctionCommand(_write_local, (str(target), body, mode), {})


def _remove_local(path: str) -> bool:
    Path(path).unlink(missing_ok=True)
    return True


@operation()
def local_file_absent(path: str) -> Generator[PyinfraCommand, None, None]:
    """
    No file at `path` on the control machine (a device's files for a feature switched off),
    checked in-process.

    + path: local path (~ is expanded)

    **Example:**

    .. code:: python

        local_file_absent(name="No tunnel config", path="build/ipad/SECRET-wireguard.conf")
    """
    target = Path(path).expanduser()
    if not target.exists() and not target.is_symlink():
        host.noop(f"{path} is absent")
        return
    yield FunctionCommand(_remove_local, (str(target),), {})


def _append_local(path: str, text: str) -> bool:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(text)
    return True


def _make_local_directory(path: str, mode: int) -> bool:
    Path(path).mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    return True


@operation()
def local_directory(path: str, mode: int = 0o700) -> Generator[PyinfraCommand, None, None]:
    """
    A directory on the control machine (the MacBook's own config folders, an iPad's
    files), checked in-process: no command, no fact.

    + path: local path (~ is expanded)
    + mode: permissions, 0o700 by default

    **Example:**

    .. code:: python

        local_directory(name="aichat's folder", path="~/.config/aichat")
    """
    target = Path(path).expanduser()
    if target.is_dir() and not target.is_symlink() and (target.stat().st_mode & 0o777) == mode:
        host.noop(f"{path} is in place")
        return
    yield FunctionCommand(_make_local_directory, (str(target), mode), {})


@operation()
def local_line(path: str, line: str) -> Generator[PyinfraCommand, None, None]:
    """
    A line in a file on the control machine that someone else owns (a shell's rc file),
    added when missing; the file's mode is kept.

    + path: local path (~ is expanded)
    + line: the whole line

    **Example:**

    .. code:: python

        local_line(name="~/.zshrc loads the env file", path="~/.zshrc", line=". ~/.config/homelab/openai.env")
    """
    target = Path(path).expanduser()
    current = target.read_text() if target.is_file() else None
    if current is not None and line in current.splitlines():
        host.noop(f"{path} has the line")
        return
    # appended in place: the rc file may be a symlink into someone's dotfiles
    yield FunctionCommand(_append_local, (str(target), ("\n" if current and not current.endswith("\n") else "")
                                          + line + "\n"), {})
