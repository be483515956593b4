"""NVIDIA Container Toolkit from NVIDIA's apt repository: the signing key checked by
sha256 into its own keyring (signed-by, no apt-key), and all four packages held at
the pinned version. k3s finds nvidia-container-runtime itself when it starts, so no
`nvidia-ctk runtime configure` is needed. Never installs a driver."""

from urllib.parse import urlsplit

from pyinfra.context import host

from homelab import host_state
from homelab.components import deploy
from homelab.host_settings import settings_for
from homelab.host_state import Query
from homelab.operations.files import ManagedFile, files_in_place, verified_download
from homelab.operations.packages import apt_installed, pinned
from homelab.rendering import render
from homelab.settings import GpuNode

PACKAGES = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
            "libnvidia-container1"]
# ASCII-armoured keys work with signed-by when the file ends in .asc (apt >= 1.4).
KEYRING = "/usr/share/keyrings/nvidia-container-toolkit-keyring.asc"
SOURCES = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"


def repo_url_for(cfg: GpuNode) -> str:
    """Through the site's apt cache, an https repository is fetched as http://HTTPS///host/...
    so that the cache can fetch it over HTTPS and keep it; apt still checks signatures."""
    url = cfg.nvidia_toolkit_repo_url
    if cfg.apt_proxy_url and url.startswith("https://"):
        parts = urlsplit(url)
        return f"http://HTTPS///{parts.netloc}{parts.path}"
    return url


host_state.reads(GpuNode, Query(files={KEYRING, SOURCES}, packages=set(PACKAGES)))


@deploy("NVIDIA Container Toolkit")
def nvidia_container_toolkit() -> None:
    cfg = settings_for(host, GpuNode)
    state = host_state.snapshot(host)
    verified_download(name="Repository signing key", src=cfg.nvidia_toolkit_key_url, dest=KEYRING,
                      sha256=cfg.nvidia_toolkit_key_sha256, known=state.file(KEYRING), mode="644")
    sources = render("nvidia_container_toolkit", "nvidia-container-toolkit.list.j2", keyring=KEYRING,
                     repo_url=repo_url_for(cfg))
    files_in_place(ManagedFile("Repository", SOURCES, sources),
                   known=state.files)
    apt_installed(name=f"Toolkit packages {cfg.nvidia_toolkit_version}",
                  packages=[pinned(package, cfg.nvidia_toolkit_version) for package in PACKAGES],
                  installed=state.packages)
