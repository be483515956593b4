"""STAND-IN for huggingface_hub (the Hugging Face hub is not reachable from the tests).

snapshot_download(repo_id, revision, local_dir, allow_patterns) "downloads" a repository
at a revision from a fixture that lists its files (tests/fixtures/hub/<owner>--<name>@<revision>.txt,
with the evidence for the list in its header): every listed file that an allow pattern
matches is written into local_dir, as huggingface_hub would (fnmatch against the
repository-relative path, so "*" also matches "/"). Unknown repositories or revisions
fail as the hub would (404).
"""

import fnmatch
import os
from pathlib import Path

__version__ = "0.0.0+homelab-stand-in"


class RevisionNotFoundError(Exception):
    pass


def snapshot_download(repo_id, revision=None, local_dir=None, allow_patterns=None, **_):
    listing = Path(os.environ["HOMELAB_HUB_FIXTURES"]) / f"{repo_id.replace('/', '--')}@{revision}.txt"
    if not listing.is_file():
        raise RevisionNotFoundError(f"404: {repo_id}@{revision} (stand-in hub: no fixture {listing.name})")
    files = [line.strip() for line in listing.read_text().splitlines() if line.strip() and not line.startswith("#")]
    patterns = [allow_patterns] if isinstance(allow_patterns, str) else list(allow_patterns or ["*"])
    for name in files:
        if any(fnmatch.fnmatch(name, p) for p in patterns):
            target = Path(local_dir) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f"stand-in content of {repo_id}@{revision}/{name}\n".encode())
    return str(local_dir)
