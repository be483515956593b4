"""Container images for an offline GPU node (k3s's air-gap method): one archive per image
the stack pulls, in <k3s_artifacts_dir>/images/, listed with their sha256 in
images/SHA256SUMS. The GPU node deploy copies the listed archives into
/var/lib/rancher/k3s/agent/images/, where k3s imports them when it starts, after checking
each against SHA256SUMS.

    python tasks.py images                          # what the stack pulls, from the render
    python tasks.py images --artifacts ~/k3s-offline # which archives are there, SHA256SUMS
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

SUMS = "SHA256SUMS"
ARCHIVE_SUFFIXES = (".tar", ".tar.zst")


def images_dir(artifacts_dir: str | Path) -> Path:
    return Path(artifacts_dir).expanduser() / "images"


def archive_stem(image: str) -> str:
    """"vllm/vllm-openai:v0.11.1" -> "vllm_vllm-openai_v0.11.1" (a file name)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", image)


# Digests of large archives kept beside them, keyed by size and modification time (as make
# and rsync judge files): a no-op deploy then stats a 10 GB image archive instead of reading it.
DIGEST_CACHE = ".homelab-sha256.json"


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The file's sha256, from the directory's digest cache while the file's size and
    modification time are those it was hashed at; hashed (and cached, where the directory
    is writable) otherwise."""
    path = Path(path)
    stat = path.stat()
    key = [stat.st_size, stat.st_mtime_ns]
    cache_file = path.parent / DIGEST_CACHE
    try:
        cache = json.loads(cache_file.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(path.name)
    if isinstance(entry, dict) and entry.get("stat") == key and re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256"))):
        return str(entry["sha256"])
    digest = _hash(path)
    cache[path.name] = {"stat": key, "sha256": digest}
    temp = cache_file.with_name(f"{DIGEST_CACHE}.{os.getpid()}")
    try:
        temp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        temp.replace(cache_file)
    except OSError:  # a read-only artifact directory: hashed again next time
        temp.unlink(missing_ok=True)
    return digest


def find_archives(images: list[str], directory: Path) -> tuple[dict[str, Path], list[str]]:
    """(image -> its archive, images without one)."""
    present, missing = {}, []
    for image in images:
        found = next((directory / (archive_stem(image) + s) for s in ARCHIVE_SUFFIXES
                      if (directory / (archive_stem(image) + s)).is_file()), None)
        if found:
            present[image] = found
        else:
            missing.append(image)
    return present, missing


def write_sums(directory: Path, archives: list[Path]) -> Path:
    path = directory / SUMS
    path.write_text("".join(f"{sha256_of(a)}  {a.name}\n" for a in sorted(archives)))
    return path


def read_sums(directory: Path) -> dict[str, str]:
    """archive name -> sha256, from SHA256SUMS (empty when there is none)."""
    path = directory / SUMS
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if re.fullmatch(r"[0-9a-f]{64}", digest) and re.fullmatch(r"[A-Za-z0-9._-]+", name.strip()):
            sums[name.strip()] = digest
    return sums


def save_command(image: str, directory: Path) -> str:
    return f"docker pull {image} && docker save {image} -o {directory / (archive_stem(image) + '.tar')}"
