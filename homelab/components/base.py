"""The common base every SSH-managed Linux host gets (GPU node, Le Potato).

Hostname, timezone, a marker that says the host is managed and by what, and the apt
proxy setting when group data names one. Refuses hosts that are not Debian-like: every
component after it relies on apt and systemd.
"""

from urllib.parse import urlsplit

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from homelab.facts import HostProfile, is_debian_like
from homelab.guards import refuse
from homelab.operations import ManagedFile, files_in_place
from homelab.rendering import render
from homelab.validation import role_of, settings_for

MARKER = "/etc/homelab-managed"
APT_PROXY_CONF = "/etc/apt/apt.conf.d/01homelab-proxy"


@deploy("Common base")
def common_base() -> bool:
    """Returns False when the host was refused."""
    cfg = settings_for(host)
    profile = host.get_fact(HostProfile)
    if not is_debian_like(profile):
        refuse(f"not a Debian-like system (os-release ID={profile.get('os_id') or 'none'}); "
               "these deploys need Debian, Ubuntu or Armbian with apt and systemd")
        return False

    # On WSL the hostname comes from /etc/wsl.conf (written by the GPU node deploy).
    if not profile["wsl"]:
        server.hostname(name="Hostname", hostname=host.name)
        files.line(name="Hostname resolves locally", path="/etc/hosts", line=r"^127\.0\.1\.1\s.*",
                   replace=f"127.0.1.1\t{host.name}")
    # Files, not timedatectl: timedated caches the zone and skips a "change" to the zone it
    # believes is set, so a hand-edited /etc/localtime would never be repaired.
    files.link(name="Timezone", path="/etc/localtime", target=f"/usr/share/zoneinfo/{cfg.timezone}")
    # A proxy on this very host (the Le Potato's own cache) is set once it is installed.
    proxy = None if apt_proxy_is_this_host(cfg) else apt_proxy_file(cfg.apt_proxy_url)
    files_in_place(
        ManagedFile("Timezone name", "/etc/timezone", f"{cfg.timezone}\n"),
        ManagedFile("Managed-by marker", MARKER, render("base", "homelab-managed.j2", site_name=cfg.site_name,
                                                        host_name=host.name, role=role_of(host))),
        proxy,
    )
    if not cfg.apt_proxy_url:
        files.file(name="No apt proxy", path=APT_PROXY_CONF, present=False)
    return True


def apt_proxy_is_this_host(cfg) -> bool:
    return bool(cfg.apt_proxy_url) and urlsplit(cfg.apt_proxy_url).hostname in {
        cfg.lan_address, host.name, "127.0.0.1", "localhost"}


def apt_proxy_file(url: str | None) -> ManagedFile | None:
    """apt fetches http repositories through `url`; https ones go direct (see template)."""
    if not url:
        return None
    return ManagedFile("apt proxy", APT_PROXY_CONF, render("base", "apt-proxy.conf.j2", apt_proxy_url=url))
