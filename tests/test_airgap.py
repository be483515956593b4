"""The offline artifacts' digests: hashed once, then taken from the cache beside them
while the file's size and modification time stay those it was hashed at."""

import hashlib
import json
import os

import pytest

from homelab import airgap


def test_a_digest_is_cached_beside_the_file_and_redone_when_the_file_changes(tmp_path, monkeypatch):
    archive = tmp_path / "busybox_1.37.tar"
    archive.write_bytes(b"first")
    assert airgap.sha256_of(archive) == hashlib.sha256(b"first").hexdigest()
    cache = json.loads((tmp_path / airgap.DIGEST_CACHE).read_text())
    assert cache["busybox_1.37.tar"]["sha256"] == hashlib.sha256(b"first").hexdigest()

    def no_reading(path):
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(airgap, "_hash", no_reading)
    assert airgap.sha256_of(archive) == hashlib.sha256(b"first").hexdigest()
    # new content (and so a new mtime): hashed again, whatever the cache says
    archive.write_bytes(b"other")
    os.utime(archive, ns=(1, 1))
    with pytest.raises(AssertionError, match="read again"):
        airgap.sha256_of(archive)
    monkeypatch.undo()
    assert airgap.sha256_of(archive) == hashlib.sha256(b"other").hexdigest()


def test_a_cache_that_cannot_be_written_still_gives_the_digest(tmp_path):
    archive = tmp_path / "k3s"
    archive.write_bytes(b"binary")
    (tmp_path / airgap.DIGEST_CACHE).mkdir()  # neither readable nor replaceable as a file (even for root)
    assert airgap.sha256_of(archive) == hashlib.sha256(b"binary").hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == [airgap.DIGEST_CACHE, "k3s"]
