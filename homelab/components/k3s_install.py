"""k3s itself at the pinned version: the binary checked by sha256 (downloaded, or copied
from a local artifact directory together with the air-gap images), kubectl/crictl/ctr
links, the systemd unit, and a restart only when config, token, binary or unit changed.

No get.k3s.io script runs: for a host whose configuration is in config.yaml, all it
would do is this, and here every step is visible, pinned and idempotent."""

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host

from homelab import airgap, host_state, k3s, pins
from homelab.components import deploy
from homelab.guards import refuse
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.operations.files import (
    ManagedFile,
    artifact_in_place,
    directory_in_place,
    files_in_place,
    link_in_place,
    verified_download,
)
from homelab.rendering import render
from homelab.services import keep_running
from homelab.settings import GpuNode


def binary_name(arch: str) -> str:
    return "k3s" if arch == "amd64" else f"k3s-{arch}"


def images_name(arch: str) -> str:
    return f"k3s-airgap-images-{arch}.tar.zst"


def download_url(cfg: GpuNode, arch: str) -> str:
    return f"{cfg.k3s_release_url.rstrip('/')}/{quote(cfg.k3s_version, safe='')}/{binary_name(arch)}"


def artifact_problem(path: Path, expected: str, pinned_by: str = "group data pins",
                     fix: str = "fetch the files of the pinned k3s_version") -> str | None:
    if not path.is_file():
        return f"{path} is missing from k3s_artifacts_dir"
    actual = airgap.sha256_of(path)
    if actual != expected:
        return f"{path} has sha256 {actual}, {pinned_by} {expected}: {fix}"
    return None


def stack_images(artifacts: Path, known: dict[str, dict[str, str] | None]) -> bool:
    """The stack's own images (tasks.py images --artifacts), each checked against
    images/SHA256SUMS, copied where k3s imports them. False when one is wrong.

    A changed archive needs no restart: since v1.32.0+k3s1 (the pin is newer) k3s watches
    agent/images and imports what lands there while running (docs.k3s.io/import-images,
    "Pre-import images"; k3s's ADR "Easy way for auto adding images to k3s"), and
    artifact_in_place lands each by a rename, one whole file per event."""
    directory = airgap.images_dir(artifacts)
    for name, expected in sorted(airgap.read_sums(directory).items()):
        problem = artifact_problem(directory / name, expected, f"{airgap.SUMS} says",
                                   "save the image again, then `python tasks.py images --artifacts ...`")
        if problem:
            refuse(f"offline images: {problem}")
            return False
        dest = f"{k3s.IMAGES_DIR}/{name}"
        artifact_in_place(name=f"Stack image {name} (offline)", src=str(directory / name), dest=dest,
                          sha256=expected, known=known[dest])
    return True


def offline_artifacts(cfg: GpuNode, arch: str) -> dict[str, Path]:
    """Where each offline artifact goes on the node -> where it is here."""
    artifacts = Path(cfg.k3s_artifacts_dir or "").expanduser().resolve()
    images = airgap.images_dir(artifacts)
    return {k3s.BINARY: artifacts / binary_name(arch),
            f"{k3s.IMAGES_DIR}/{images_name(arch)}": artifacts / images_name(arch),
            **{f"{k3s.IMAGES_DIR}/{name}": images / name for name in airgap.read_sums(images)}}


TOOLS = [f"/usr/local/bin/{tool}" for tool in ("kubectl", "crictl", "ctr")]


def unit_file(host_: Host) -> str:
    return f"/etc/systemd/system/{k3s.unit(host_)}.service"


def _reads(host_: Host, cfg: GpuNode) -> Query:
    query = Query(files={unit_file(host_)}, links=set(TOOLS), units={k3s.unit(host_)}, dirs={k3s.IMAGES_DIR},
                  contents={pins.RECORD})
    # stat only: a no-op run reads none of them on the node (the binary alone is 70 MB)
    if cfg.k3s_artifacts_dir:
        query.artifacts |= {dest for arch in cfg.k3s_sha256 for dest in offline_artifacts(cfg, arch)}
    else:
        query.artifacts.add(k3s.BINARY)
    return query


host_state.reads(GpuNode, _reads)


@deploy("k3s install")
def k3s_install(config_changes: Sequence[OperationMeta] = ()) -> bool:
    cfg = settings_for(host, GpuNode)
    state = host_state.snapshot(host)
    arch = state.profile["deb_arch"]
    if arch not in cfg.k3s_sha256:
        refuse(f"no k3s_sha256 for architecture {arch!r}: add it to group_data/gpu_nodes.py")
        return False
    recorded = pins.parse_record(state.contents.get(pins.RECORD) or "")
    step = pins.k3s_step_problem(recorded["k3s_version"], cfg.k3s_version) if recorded else None
    if step:
        refuse(f"k3s: {step} (`python tasks.py upgrade plan` shows the whole move)")
        return False
    changes = list(config_changes)
    if cfg.k3s_artifacts_dir:
        artifacts = Path(cfg.k3s_artifacts_dir).expanduser().resolve()
        binary_src, images_src = artifacts / binary_name(arch), artifacts / images_name(arch)
        problem = (artifact_problem(binary_src, cfg.k3s_sha256[arch])
                   or artifact_problem(images_src, cfg.k3s_airgap_images_sha256[arch]))
        if problem:
            refuse(f"offline k3s install: {problem}")
            return False
        changes.append(artifact_in_place(name=f"k3s {cfg.k3s_version} binary (offline)", src=str(binary_src),
                                         dest=k3s.BINARY, sha256=cfg.k3s_sha256[arch],
                                         known=state.artifacts[k3s.BINARY], mode="755"))
        directory_in_place(name="Air-gap images directory", path=k3s.IMAGES_DIR, mode="755",
                           known=state.dirs[k3s.IMAGES_DIR])
        images_dest = f"{k3s.IMAGES_DIR}/{images_name(arch)}"
        changes.append(artifact_in_place(name="Air-gap images (offline)", src=str(images_src), dest=images_dest,
                                         sha256=cfg.k3s_airgap_images_sha256[arch], known=state.artifacts[images_dest]))
        if not stack_images(artifacts, state.artifacts):
            return False
    else:
        changes.append(verified_download(name=f"k3s {cfg.k3s_version} binary", src=download_url(cfg, arch),
                                         dest=k3s.BINARY, sha256=cfg.k3s_sha256[arch],
                                         known=state.artifacts[k3s.BINARY], mode="755", record=True))
    for tool in TOOLS:
        link_in_place(name=f"{tool.rsplit('/', 1)[1]} -> k3s", path=tool, target=k3s.BINARY, known=state.links[tool])
    role, unit = k3s.role(host), k3s.unit(host)
    unit_managed = ManagedFile(f"{unit}.service", unit_file(host),
                               render("k3s", "k3s.service.j2", role=role, binary=k3s.BINARY))
    placed = files_in_place(unit_managed, known=state.files)[unit_managed]
    keep_running(unit, state.unit(unit), configs=changes, units=[placed])
    return True
