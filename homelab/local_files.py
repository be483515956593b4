"""Files on the control machine that may hold secrets (the secrets store, backups, the
kubeconfig, client configs): written whole or not at all, never readable by others on
the way."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o600,
                  dir_mode: int | None = 0o700) -> None:
    """Write `data` to `path` atomically: a temporary file next to it, created with `mode`
    (never wider first), synced, then renamed over it; the temporary file is gone
    whatever happens. A missing parent is made with `dir_mode` (None: the umask's)."""
    target = Path(path).expanduser()
    if dir_mode is None:
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # O_CREAT's mode is cut by the umask
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
